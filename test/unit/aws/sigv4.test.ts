import { describe, expect, it } from 'vitest';
import { signRequest, verifySignedRequest } from '#lib/aws/sigv4.ts';

const credentials = { accessKeyId: 'AKIAEXAMPLEEXAMPLE12', secretAccessKey: 'secret/secret+secret' };
const url = new URL('http://127.0.0.1:8080/v1/admin/blacklist/m%3A1?x=1&x=2');
const body = '{"reason":"r"}';
const now = new Date('2026-11-21T12:00:00Z');

async function signed(overrides: { body?: string; headers?: Record<string, string> } = {}) {
  const headers = await signRequest({ method: 'PUT', url, headers: { 'content-type': 'application/json' }, body }, credentials, 'us-east-1', now);
  return { method: 'PUT', url, headers: { ...headers, ...overrides.headers }, body: overrides.body ?? body };
}

describe('SigV4 between the CLI and the local origin', () => {
  it('accepts what the signer signed', async () => {
    expect(await verifySignedRequest(await signed(), credentials, now)).toEqual({ ok: true, accessKeyId: credentials.accessKeyId });
  });

  it('refuses a changed body', async () => {
    expect(await verifySignedRequest(await signed({ body: '{"reason":"x"}' }), credentials, now)).toMatchObject({ ok: false });
  });

  it('refuses another path or query', async () => {
    const request = await signed();
    expect(await verifySignedRequest({ ...request, url: new URL('http://127.0.0.1:8080/v1/admin/blacklist/m%3A2?x=1&x=2') }, credentials, now)).toMatchObject({ ok: false });
    expect(await verifySignedRequest({ ...request, url: new URL('http://127.0.0.1:8080/v1/admin/blacklist/m%3A1?x=1') }, credentials, now)).toMatchObject({ ok: false });
  });

  it('refuses a request signed 16 minutes ago', async () => {
    expect(await verifySignedRequest(await signed(), credentials, new Date(now.getTime() + 16 * 60_000))).toMatchObject({ ok: false, reason: 'request time too far from now' });
  });

  it('refuses other credentials and an unsigned request', async () => {
    expect(await verifySignedRequest(await signed(), { ...credentials, secretAccessKey: 'other' }, now)).toMatchObject({ ok: false });
    expect(await verifySignedRequest(await signed(), { ...credentials, accessKeyId: 'AKIAOTHEROTHEROTHER1' }, now)).toMatchObject({ ok: false, reason: 'unknown access key' });
    expect(await verifySignedRequest({ method: 'PUT', url, headers: {}, body }, credentials, now)).toMatchObject({ ok: false });
  });
});
