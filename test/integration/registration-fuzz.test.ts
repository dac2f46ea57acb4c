import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { errorStatus } from '#lib/http/errors.ts';
import { stackInfo } from '#test/support/licensing.ts';

const codes = new Set(Object.keys(errorStatus));

/** Bodies an agent might send, a broken one, or an attacker: valid-looking objects with wrong parts, any JSON, any text. */
const bodies = fc.oneof(
  fc.record(
    {
      licenseKey: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
      machineId: fc.oneof(fc.string({ maxLength: 200 }), fc.double(), fc.array(fc.string())),
      product: fc.oneof(fc.constant('demo-av'), fc.string()),
      os: fc.string(),
      arch: fc.string(),
      hostname: fc.string({ maxLength: 300 }),
      extra: fc.anything(),
    },
    { requiredKeys: [] },
  ).map((v) => JSON.stringify(v)),
  fc.json(),
  fc.string({ maxLength: 400 }),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
);

const contentTypes = fc.oneof(
  fc.constant('application/json'),
  fc.constant('application/json; charset=utf-8'),
  fc.constant('text/plain'),
  fc.constant('application/octet-stream'),
  fc.string({ maxLength: 40 }).filter((s) => /^[\x21-\x7e ]*$/.test(s)),
);

const hex32 = fc.stringMatching(/^[0-9a-f]{32}$/);

const authorizations = fc.option(fc.oneof(fc.string({ maxLength: 100 }).filter((s) => /^[\x20-\x7e]*$/.test(s)), fc.constant('Bearer sgt1.x.y.z.w')), { nil: undefined });

describe('POST /v1/agents under random and malformed input', () => {
  it('never answers 5xx, and every error is a contract error body', async () => {
    const { baseUrl } = stackInfo();
    await fc.assert(
      fc.asyncProperty(bodies, contentTypes, authorizations, async (body, contentType, authorization) => {
        const headers: Record<string, string> = { 'content-type': contentType };
        if (authorization !== undefined) headers.authorization = authorization;
        const response = await fetch(`${baseUrl}/v1/agents`, { method: 'POST', headers, body });
        expect(response.status).toBeLessThan(500);
        if (response.status >= 400) {
          const payload = (await response.json()) as { error?: { code?: string; message?: string } };
          expect(codes.has(payload.error?.code ?? '')).toBe(true);
          expect(typeof payload.error?.message).toBe('string');
        } else {
          await response.arrayBuffer();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never answers 5xx to random bearer tokens on an authenticated route', async () => {
    const { baseUrl } = stackInfo();
    const tokens = fc.oneof(
      fc.string({ maxLength: 300 }).filter((s) => /^[\x21-\x7e]*$/.test(s)),
      fc.tuple(hex32, hex32, hex32, fc.stringMatching(/^[a-z2-7]{32}$/)).map(([a, b, c, d]) => `sgt1.${a}.${b}.${c}.${d}`),
    );
    await fc.assert(
      fc.asyncProperty(tokens, async (token) => {
        const response = await fetch(`${baseUrl}/v1/agents/self`, { headers: { authorization: `Bearer ${token}` } });
        expect(response.status).toBe(401);
        const payload = (await response.json()) as { error?: { code?: string } };
        expect(payload.error?.code).toBe('INVALID_CREDENTIALS');
      }),
      { numRuns: 200 },
    );
  });
});
