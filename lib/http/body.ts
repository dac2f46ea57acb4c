/**
 * Request bodies at the edge: JSON only, bounded in size, checked against a zod/mini
 * schema built once at init. Every refusal is a contract error that names the field.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type * as z from 'zod/mini';
import { InvalidRequest, PayloadTooLarge, UnsupportedMediaType } from '#lib/errors.ts';

/** Our bodies are small; anything near this is not an agent talking. */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024;

type Issue = z.core.$ZodIssue;

/** zod/mini ships no messages (that is most of its size saving); these are ours. */
/** Whether the value at `path` was sent at all (zod reports a missing field as a type error). */
function isPresent(value: unknown, path: readonly PropertyKey[]): boolean {
  let current: unknown = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object' || !(key in current)) return false;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current !== undefined;
}

/** How a type zod expected reads in a sentence, where `a <type>` does not. */
const EXPECTED: Readonly<Record<string, string>> = { object: 'a JSON object', int: 'a whole number', array: 'an array' };

export function describeIssue(issue: Issue, input: unknown): { field: string; problem: string } {
  const path = issue.path.map(String).join('.');
  switch (issue.code) {
    case 'unrecognized_keys':
      return { field: [path, issue.keys[0]].filter(Boolean).join('.'), problem: 'is not a known field' };
    case 'invalid_type':
      return { field: path || 'body', problem: !isPresent(input, issue.path) ? 'is required' : `must be ${EXPECTED[issue.expected] ?? `a ${issue.expected}`}` };
    case 'too_big':
      return { field: path, problem: issue.origin === 'string' ? `must be at most ${String(issue.maximum)} characters` : `must be at most ${String(issue.maximum)}` };
    case 'too_small':
      return { field: path, problem: issue.origin === 'string' ? `must be at least ${String(issue.minimum)} characters` : `must be at least ${String(issue.minimum)}` };
    case 'invalid_value':
      return { field: path, problem: `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}` };
    case 'invalid_format':
      return { field: path, problem: issue.format === 'regex' ? 'has characters or a form that is not allowed' : `must be a valid ${issue.format}` };
    case 'not_multiple_of':
      return { field: path, problem: `must be a multiple of ${String(issue.divisor)}` };
    case 'custom':
      // Our own refinements (freeText in text.ts) say what is wrong in `params.problem`.
      return { field: path || 'body', problem: typeof issue.params?.problem === 'string' ? issue.params.problem : 'is not valid' };
    default:
      return { field: path || 'body', problem: 'is not valid' };
  }
}

/** `name`: what the error calls the value itself (a path parameter, say) when the problem is not in one of its fields. */
export function parseWith<T>(schema: z.ZodMiniType<T>, value: unknown, name = 'body'): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const first = result.error.issues[0];
  const { field, problem } = first ? describeIssue(first, value) : { field: name, problem: 'is not valid' };
  throw new InvalidRequest(field === '' || field === 'body' ? name : field, problem);
}

/**
 * Why a body with these headers is not one we read (UTF-8 JSON, as sent), or undefined.
 * JSON is UTF-8 (RFC 8259): a charset parameter may only say so. Nothing decodes a
 * Content-Encoding on the way (API Gateway does not), so any but `identity` would be
 * read as garbage.
 */
export function unsupportedMediaType(headers: Readonly<Record<string, string | undefined>>): string | undefined {
  const [mediaType = '', ...parameters] = (headers['content-type'] ?? '').split(';');
  if (mediaType.trim().toLowerCase() !== 'application/json') return 'the body must be JSON, sent with Content-Type: application/json';
  for (const parameter of parameters) {
    const separator = parameter.indexOf('=');
    const name = (separator < 0 ? parameter : parameter.slice(0, separator)).trim().toLowerCase();
    if (name !== 'charset') continue;
    const charset = parameter.slice(separator + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
    if (charset !== 'utf-8') return 'the body must be UTF-8 JSON: a charset other than utf-8 is not supported';
  }
  const encodings = (headers['content-encoding'] ?? '').split(',').map((e) => e.trim().toLowerCase()).filter(Boolean);
  if (encodings.some((e) => e !== 'identity')) return 'the body must be sent as is: a Content-Encoding other than identity is not supported';
  return undefined;
}

export function parseJsonBody<T>(event: APIGatewayProxyEventV2, schema: z.ZodMiniType<T>, maxBytes = DEFAULT_MAX_BODY_BYTES): T {
  const unsupported = unsupportedMediaType(event.headers);
  if (unsupported) throw new UnsupportedMediaType(unsupported);
  const raw = event.body ?? '';
  const text = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  if (Buffer.byteLength(text) > maxBytes) throw new PayloadTooLarge(maxBytes);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidRequest('body', 'is not valid JSON');
  }
  return parseWith(schema, value);
}
