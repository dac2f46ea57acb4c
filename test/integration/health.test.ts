import { describe, expect, inject, it } from 'vitest';

const { baseUrl } = inject('stack');

describe('GET /v1/health through the local origin', () => {
  it('answers 200 { status: "ok" } from the real handler against DynamoDB Local', async () => {
    const response = await fetch(`${baseUrl}/v1/health`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('answers an unknown API path with 404 NOT_FOUND in the contract error shape', async () => {
    const response = await fetch(`${baseUrl}/v1/no-such-route`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('answers a wrong method on a known path with 405', async () => {
    const response = await fetch(`${baseUrl}/v1/health`, { method: 'DELETE' });
    expect(response.status).toBe(405);
    expect(await response.json()).toMatchObject({ error: { code: 'METHOD_NOT_ALLOWED' } });
  });

  it('refuses a body over the API Gateway limit with 413 PAYLOAD_TOO_LARGE, not a 5xx', async () => {
    const response = await fetch(`${baseUrl}/v1/health`, { method: 'POST', body: Buffer.alloc(11 * 1024 * 1024) });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
  });

  it('serves nothing outside /v1, /metadata and /targets', async () => {
    const response = await fetch(`${baseUrl}/etc/passwd`);
    expect(response.status).toBe(404);
  });
});
