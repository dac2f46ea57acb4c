import { describe, expect, it } from 'vitest';
import { forward } from '#cli/commands/console.ts';
import { AdminApiError, CliError } from '#cli/errors.ts';

describe("the console's forwarding of one admin call", () => {
  it('answers the API body on success', async () => {
    const client = { call: async <T>(method: string, path: string, body?: unknown) => ({ method, path, body }) as T };
    expect(await forward(client, 'POST', '/v1/admin/licenses', { seats: 1 })).toEqual({ status: 200, body: { method: 'POST', path: '/v1/admin/licenses', body: { seats: 1 } } });
  });

  it("passes the API's refusal on with its status, code and message", async () => {
    const client = { call: async () => Promise.reject(new AdminApiError(404, 'NOT_FOUND', 'demo-av 9.9.9 is not published', 'POST /v1/admin/channels/demo-av/stable/promote')) };
    expect(await forward(client, 'POST', '/x')).toEqual({ status: 404, body: { error: { code: 'NOT_FOUND', message: 'demo-av 9.9.9 is not published' } } });
  });

  it("answers 502 with the admin client's reason when the server cannot be reached", async () => {
    const client = { call: async () => Promise.reject(new CliError('cannot reach http://127.0.0.1:1: ECONNREFUSED')) };
    expect(await forward(client, 'GET', '/x')).toEqual({ status: 502, body: { error: { code: 'BAD_GATEWAY', message: 'cannot reach http://127.0.0.1:1: ECONNREFUSED' } } });
  });

  it('lets a bug surface rather than dressing it as an API answer', async () => {
    const client = { call: async () => Promise.reject(new TypeError('bug')) };
    await expect(forward(client, 'GET', '/x')).rejects.toThrow('bug');
  });
});
