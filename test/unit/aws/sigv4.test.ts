import { describe, expect, it } from 'vitest';
import { signRequest, verifySignedRequest } from '#lib/aws/sigv4.ts';

const credentials = { accessKeyId: 'AKIAEXAMPLEEXAMPLE12', secretAccessKey: 'secret/secret+secret' };
const url = new URL('http://127.0.0.1:8080/v1/admin/blacklist/m%3A1?x=1&x=2');
const body = '{"reason":"r"}';
const now = new Date('2026-11-21T12:00:00Z');
const scope = { region: 'us-east-1', service: 'execute-api' };

async function signed(overrides: { body?: string; headers?: Record<string, string>; region?: string } = {}) {
  const headers = await signRequest({ method: 'PUT', url, headers: { 'content-type': 'application/json' }, body }, credentials, overrides.region ?? 'us-east-1', now);
  return { method: 'PUT', url, headers: { ...headers, ...overrides.headers }, body: overrides.body ?? body };
}

describe('SigV4 between the CLI and the local origin', () => {
  it('accepts what the signer signed', async () => {
    expect(await verifySignedRequest(await signed(), credentials, scope, now)).toEqual({ ok: true, accessKeyId: credentials.accessKeyId });
  });

  it('refuses a changed body', async () => {
    expect(await verifySignedRequest(await signed({ body: '{"reason":"x"}' }), credentials, scope, now)).toMatchObject({ ok: false });
  });

  it('refuses another path or query', async () => {
    const request = await signed();
    expect(await verifySignedRequest({ ...request, url: new URL('http://127.0.0.1:8080/v1/admin/blacklist/m%3A2?x=1&x=2') }, credentials, scope, now)).toMatchObject({ ok: false });
    expect(await verifySignedRequest({ ...request, url: new URL('http://127.0.0.1:8080/v1/admin/blacklist/m%3A1?x=1') }, credentials, scope, now)).toMatchObject({ ok: false });
  });

  it('refuses a request signed 16 minutes ago', async () => {
    expect(await verifySignedRequest(await signed(), credentials, scope, new Date(now.getTime() + 16 * 60_000))).toMatchObject({ ok: false, reason: 'request time too far from now' });
  });

  it('refuses a signature valid for another region, with the region as the reason', async () => {
    expect(await verifySignedRequest(await signed({ region: 'eu-west-1' }), credentials, scope, now)).toEqual({ ok: false, reason: 'signed for region eu-west-1, not us-east-1' });
  });

  it('accepts the region and refuses the service the verifier is told to expect', async () => {
    const request = await signed({ region: 'eu-west-1' });
    expect(await verifySignedRequest(request, credentials, { region: 'eu-west-1', service: 'execute-api' }, now)).toEqual({ ok: true, accessKeyId: credentials.accessKeyId });
    expect(await verifySignedRequest(request, credentials, { region: 'eu-west-1', service: 's3' }, now)).toEqual({ ok: false, reason: 'signed for service execute-api, not s3' });
  });

  it('refuses other credentials and an unsigned request', async () => {
    expect(await verifySignedRequest(await signed(), { ...credentials, secretAccessKey: 'other' }, scope, now)).toMatchObject({ ok: false });
    expect(await verifySignedRequest(await signed(), { ...credentials, accessKeyId: 'AKIAOTHEROTHEROTHER1' }, scope, now)).toMatchObject({ ok: false, reason: 'unknown access key' });
    expect(await verifySignedRequest({ method: 'PUT', url, headers: {}, body }, credentials, scope, now)).toMatchObject({ ok: false });
  });
});
