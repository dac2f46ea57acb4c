/**
 * Verification of CloudFront signed URLs, for the local origin that stands in for
 * CloudFront in front of `/targets/*`. It follows the CloudFront Developer Guide
 * ("Create a signed URL using a canned policy" / "... using a custom policy"), so a URL
 * made by any AWS signer for the cloud distribution verifies here too, and one the
 * cloud would refuse is refused here. It is stricter in two ways, both for URLs no Signet
 * signer makes: a custom policy's Resource must name its scheme and host literally (no
 * absent Resource, no wildcard before the path), and the path must be canonical (no
 * encoded dot, slash, backslash, percent or NUL). See docs/delivery.md, "The download grant".
 *
 * Pure: the caller passes the key group, the clock and the viewer's address. Hostile
 * input never throws; it yields `{ ok: false, reason }`, the reason being short and
 * meant for logs, never for the viewer.
 */
import type { KeyObject } from 'node:crypto';
import { verify } from 'node:crypto';
import type { CdnKeyType } from './cdn-key.ts';
import { cdnKeyType } from './cdn-key.ts';
import { decodeCloudFrontBase64 } from './cloudfront-base64.ts';
import { isAnchoredResource, matchesResource } from './resource-match.ts';
import type { Cidr } from './source-ip.ts';
import { cidrContains, parseCidr } from './source-ip.ts';

export interface KeyGroup {
  get(keyPairId: string): KeyObject | undefined;
}

export type SignedUrlVerdict = { ok: true } | { ok: false; reason: string };

export interface VerifySignedUrlInput {
  /**
   * The URL as the viewer asked for it: scheme, the `Host` header, the path and the
   * query string as sent. The policy's `Resource` is compared with this URL minus the
   * signing parameters, so build it from the request, not from configuration.
   */
  readonly url: URL;
  readonly keyGroup: KeyGroup;
  readonly now: Date;
  /** The viewer's address; required only by policies with an `IpAddress` condition. */
  readonly sourceIp?: string;
}

/** The query parameters CloudFront consumes; every other parameter belongs to the resource. */
export const signingParams: readonly string[] = ['Expires', 'Policy', 'Signature', 'Key-Pair-Id', 'Hash-Algorithm'];
const signingParamSet: ReadonlySet<string> = new Set(signingParams);

// CloudFront refuses request URLs longer than 8,192 bytes (quotas page); enforcing the
// same cap up front bounds every loop and decode below.
const maxUrlLength = 8192;
// Generous for a Key-Pair-Id (CloudFront's are 14 characters) or a local file name.
const maxKeyPairIdLength = 256;
// The encodings the path guard refuses (viewer-request.js ENCODED_SEPARATOR).
const nonCanonicalPath = /%(2e|2f|5c|25|00)/i;

interface Policy {
  readonly resource: string | undefined;
  readonly dateLessThan: number;
  readonly dateGreaterThan: number | undefined;
  readonly sourceIp: Cidr | undefined;
}

type Step<T> = { ok: true; value: T } | { ok: false; reason: string };

export function verifySignedUrl(input: VerifySignedUrlInput): SignedUrlVerdict {
  try {
    return verifyUnguarded(input);
  } catch {
    // Every path above is written not to throw; this only keeps a surprise (a KeyGroup
    // implementation that throws, say) from becoming a 500 instead of a 403.
    return refuse('internal error');
  }
}

function verifyUnguarded({ url, keyGroup, now, sourceIp }: VerifySignedUrlInput): SignedUrlVerdict {
  if (url.href.length > maxUrlLength) return refuse('url too long');
  // The resource is matched against the path as given, so it must be the path the object
  // is then read at: an encoded dot, slash, backslash, percent or NUL that something
  // downstream decodes later would let `/targets/demo-av/..%2Fother-av/x` match a
  // demo-av grant. `new URL` has already resolved `.`, `..` and `%2e%2e` segments; the
  // path guard (viewer-request.js) refuses all of these before any signature check.
  if (nonCanonicalPath.test(url.pathname)) return refuse('non-canonical path');
  const nowMs = now.getTime();
  if (!Number.isFinite(nowMs)) return refuse('invalid clock');

  const split = splitQuery(url);
  if (!split.ok) return split;
  const { params, resourceUrl } = split.value;

  const signatureText = params.get('Signature');
  if (signatureText === undefined) return refuse('missing signature');
  const keyPairId = params.get('Key-Pair-Id');
  if (keyPairId === undefined || keyPairId === '') return refuse('missing key id');
  const expiresText = params.get('Expires');
  const policyText = params.get('Policy');
  if (expiresText === undefined && policyText === undefined) return refuse('missing policy');
  // A URL carrying both is not something any signer produces; which one CloudFront
  // would honour is undocumented, so neither is.
  if (expiresText !== undefined && policyText !== undefined) return refuse('ambiguous policy');

  const hash = hashAlgorithm(params.get('Hash-Algorithm'));
  if (hash === undefined) return refuse('unsupported hash algorithm');

  if (keyPairId.length > maxKeyPairIdLength) return refuse('unknown key id');
  const key = keyGroup.get(keyPairId);
  if (key === undefined) return refuse('unknown key id');
  const keyType = cdnKeyType(key);
  if (keyType === undefined) return refuse('unsupported key type');

  const signature = decodeCloudFrontBase64(signatureText);
  if (signature === undefined || signature.length === 0) return refuse('malformed signature');

  let signedBytes: Buffer;
  let policy: Policy;
  if (expiresText !== undefined) {
    // Canonical digits only: `0123` would rebuild the same policy as `123`, and a URL
    // that changed should not still verify.
    if (!/^(0|[1-9][0-9]{0,11})$/.test(expiresText)) return refuse('malformed expires');
    const expires = Number(expiresText);
    signedBytes = Buffer.from(cannedPolicy(resourceUrl, expires), 'utf8');
    policy = { resource: resourceUrl, dateLessThan: expires, dateGreaterThan: undefined, sourceIp: undefined };
  } else {
    const decoded = decodeCloudFrontBase64(policyText ?? '');
    if (decoded === undefined || decoded.length === 0) return refuse('malformed policy');
    const parsed = parseCustomPolicy(decoded);
    if (!parsed.ok) return parsed;
    signedBytes = decoded;
    policy = parsed.value;
  }

  if (!signatureMatches(keyType, key, hash, signedBytes, signature)) return refuse('bad signature');

  // Conditions are evaluated only once the signature held: an unsigned policy must not
  // learn, through the reason, anything about the clock or the viewer.
  if (!(nowMs < policy.dateLessThan * 1000)) return refuse('expired');
  if (policy.dateGreaterThan !== undefined && !(nowMs > policy.dateGreaterThan * 1000)) {
    return refuse('not yet valid');
  }
  if (policy.sourceIp !== undefined) {
    if (sourceIp === undefined || !cidrContains(policy.sourceIp, sourceIp)) return refuse('source ip not allowed');
  }
  // Stricter than CloudFront, on purpose: an absent Resource (every URL, the guide says)
  // or one with a wildcard before the path (`*/targets/demo-av/*`) is refused. CloudFront
  // matches the pattern against the whole URL, query string included, so such a grant for
  // one product opens another's targets with the granted path in the query. No Signet
  // signer makes such a policy (GrantIssuer refuses to); refusing it here too retires any
  // still-valid grant an older mirror issued with `baseUrl: '*'`.
  if (policy.resource === undefined || !isAnchoredResource(policy.resource)) return refuse('unanchored resource');
  if (!matchesResource(policy.resource, resourceUrl)) return refuse('resource mismatch');
  return { ok: true };
}

function refuse(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

/**
 * Splits the raw query into the signing parameters (percent-decoded values) and the
 * resource URL: scheme, host, path and every other parameter, raw and in its original
 * order, wherever it sat relative to the signing ones. The guide allows your own
 * parameters after `Key-Pair-Id` too, and a signer puts the parameters it saw before
 * its own, so the resource is the URL "excluding the CloudFront signing parameters".
 * Empty pieces (`&&`, a trailing `&`) carry nothing and are dropped.
 */
function splitQuery(url: URL): Step<{ params: Map<string, string>; resourceUrl: string }> {
  const params = new Map<string, string>();
  const kept: string[] = [];
  const query = url.search.startsWith('?') ? url.search.slice(1) : url.search;
  for (const piece of query === '' ? [] : query.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const name = eq < 0 ? piece : piece.slice(0, eq);
    if (!signingParamSet.has(name)) {
      kept.push(piece);
      continue;
    }
    // Two values for one signing parameter leave it open which one a verifier reads
    // and which one the origin sees; refusing is the only reading that cannot be gamed.
    if (params.has(name)) return refuse('duplicate parameter');
    const value = percentDecode(eq < 0 ? '' : piece.slice(eq + 1));
    if (value === undefined) return refuse(`malformed ${name.toLowerCase()}`);
    params.set(name, value);
  }
  const resourceUrl = `${url.protocol}//${url.host}${url.pathname}${kept.length > 0 ? `?${kept.join('&')}` : ''}`;
  return { ok: true, value: { params, resourceUrl } };
}

/**
 * Signing values are plain ASCII, but some HTTP clients escape `~` as `%7E`; decoding
 * tolerates that. `+` is deliberately not read as a space: it is not in CloudFront's
 * alphabet, and the strict base64 decoder then refuses it.
 */
function percentDecode(raw: string): string | undefined {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/**
 * No `Hash-Algorithm` means SHA-1, the original scheme; `Hash-Algorithm=SHA256` selects
 * SHA-256 ("When you use SHA-256, include the Hash-Algorithm=SHA256 query parameter",
 * guide, code examples for signed URLs). The hash is independent of the key type: the
 * guide's examples swap SHA1withRSA for SHA256withRSA, and ECDSA URLs predate the
 * parameter, so all four combinations are valid. The guide names no other value, and an
 * explicit `SHA1` is not something an AWS signer writes, so any other value is refused.
 */
function hashAlgorithm(value: string | undefined): 'sha1' | 'sha256' | undefined {
  if (value === undefined) return 'sha1';
  if (value === 'SHA256') return 'sha256';
  return undefined;
}

/**
 * The canned policy is never sent; it is rebuilt from the URL and `Expires`, and must be
 * byte-identical to what the signer hashed: the guide's fixed key order, no whitespace,
 * the resource as a JSON string and the time as a bare integer. `JSON.stringify` escapes
 * a (printable ASCII) URL exactly as Python's `json.dumps` in the AWS CLI does.
 */
function cannedPolicy(resource: string, expires: number): string {
  return `{"Statement":[{"Resource":${JSON.stringify(resource)},"Condition":{"DateLessThan":{"AWS:EpochTime":${expires}}}}]}`;
}

/**
 * The guide's custom policy shape, strictly: one statement, an optional string
 * `Resource` starting with `http://`, `https://` or `*`, a required `DateLessThan`,
 * optional `DateGreaterThan` and `IpAddress`, epoch times as bare integers ("do not
 * enclose the value in quotation marks"). Unknown keys are refused rather than ignored:
 * ignoring a condition we do not understand would grant more than the signer meant.
 */
function parseCustomPolicy(bytes: Buffer): Step<Policy> {
  const malformed = refuse('malformed policy');
  let root: unknown;
  try {
    root = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return malformed;
  }
  if (!isPlainObject(root) || !hasOnlyKeys(root, ['Statement'])) return malformed;
  const statements = root['Statement'];
  if (!Array.isArray(statements) || statements.length !== 1) return malformed;
  const statement: unknown = statements[0];
  if (!isPlainObject(statement) || !hasOnlyKeys(statement, ['Resource', 'Condition'])) return malformed;

  let resource: string | undefined;
  const resourceValue = statement['Resource'];
  if (resourceValue !== undefined) {
    if (typeof resourceValue !== 'string' || !/^(https?:\/\/|\*)/.test(resourceValue)) return malformed;
    resource = resourceValue;
  }

  const condition = statement['Condition'];
  if (!isPlainObject(condition) || !hasOnlyKeys(condition, ['DateLessThan', 'DateGreaterThan', 'IpAddress'])) {
    return malformed;
  }
  const dateLessThan = epochTime(condition['DateLessThan']);
  if (dateLessThan === undefined) return malformed;
  let dateGreaterThan: number | undefined;
  if (condition['DateGreaterThan'] !== undefined) {
    dateGreaterThan = epochTime(condition['DateGreaterThan']);
    if (dateGreaterThan === undefined) return malformed;
  }
  let sourceIp: Cidr | undefined;
  const ipCondition = condition['IpAddress'];
  if (ipCondition !== undefined) {
    if (!isPlainObject(ipCondition) || !hasOnlyKeys(ipCondition, ['AWS:SourceIp'])) return malformed;
    const cidrText = ipCondition['AWS:SourceIp'];
    sourceIp = typeof cidrText === 'string' ? parseCidr(cidrText) : undefined;
    if (sourceIp === undefined) return malformed;
  }
  return { ok: true, value: { resource, dateLessThan, dateGreaterThan, sourceIp } };
}

function epochTime(value: unknown): number | undefined {
  if (!isPlainObject(value) || !hasOnlyKeys(value, ['AWS:EpochTime'])) return undefined;
  const seconds = value['AWS:EpochTime'];
  if (typeof seconds !== 'number' || !Number.isSafeInteger(seconds) || seconds < 0) return undefined;
  return seconds;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasOnlyKeys(value: Record<string, unknown>, allowed: readonly string[]): boolean {
  return Object.keys(value).every((k) => allowed.includes(k));
}

/**
 * RSA keys verify PKCS #1 v1.5 signatures and ECDSA keys DER-encoded ones, which is what
 * every AWS signer (and OpenSSL's `dgst -sign`) emits.
 */
function signatureMatches(
  keyType: CdnKeyType,
  key: KeyObject,
  hash: 'sha1' | 'sha256',
  data: Buffer,
  signature: Buffer,
): boolean {
  // 256 bytes for RSA-2048; at most 72 for a DER ECDSA P-256 signature.
  if (keyType === 'rsa-2048' && signature.length !== 256) return false;
  if (keyType === 'ecdsa-p256' && signature.length > 72) return false;
  try {
    return verify(hash, data, keyType === 'ecdsa-p256' ? { key, dsaEncoding: 'der' } : key, signature);
  } catch {
    return false;
  }
}
