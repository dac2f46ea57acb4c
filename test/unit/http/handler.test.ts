import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { InvalidRequest, RateLimited } from '#lib/errors.ts';
import { apiHandler } from '#lib/http/handler.ts';
import { json } from '#lib/http/response.ts';
import { createLogger } from '#lib/log.ts';

const event = { rawPath: '/v1/x', headers: {} } as unknown as APIGatewayProxyEventV2;
const context = { awsRequestId: 'req-1' } as Context;
const logger = createLogger('test');

function bodyOf(result: unknown) {
  return JSON.parse((result as { body: string }).body) as unknown;
}

describe('apiHandler maps outcomes to the contract', () => {
  it('passes a result through', async () => {
    const handler = apiHandler(logger, async () => json(200, { ok: true }));
    expect(await handler(event, context)).toMatchObject({ statusCode: 200, body: '{"ok":true}' });
  });

  it('answers a refusal with its status and { error: { code, message } }', async () => {
    const handler = apiHandler(logger, async () => {
      throw new InvalidRequest('machineId', 'must be a string');
    });
    const result = await handler(event, context);
    expect(result).toMatchObject({ statusCode: 400 });
    expect(bodyOf(result)).toEqual({ error: { code: 'INVALID_REQUEST', message: 'machineId: must be a string' } });
  });

  it('answers a refusal that says when to come back with Retry-After', async () => {
    const handler = apiHandler(logger, async () => {
      throw new RateLimited(7);
    });
    expect(await handler(event, context)).toMatchObject({ statusCode: 429, headers: { 'retry-after': '7' } });
  });

  it('answers a downstream outage with 503 UNAVAILABLE and Retry-After, not a 500', async () => {
    const handler = apiHandler(logger, async () => {
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8000'), { code: 'ECONNREFUSED' });
    });
    const result = await handler(event, context);
    expect(result).toMatchObject({ statusCode: 503, headers: { 'retry-after': '5' } });
    expect(bodyOf(result)).toMatchObject({ error: { code: 'UNAVAILABLE' } });
  });

  it('answers a bug with a generic 500 that reveals nothing but the request id', async () => {
    const logged = vi.spyOn(logger, 'error').mockImplementation(() => undefined);
    const handler = apiHandler(logger, async () => {
      throw new TypeError('secret internals at /var/task/index.mjs');
    });
    const result = await handler(event, context);
    expect(result).toMatchObject({ statusCode: 500 });
    expect(bodyOf(result)).toEqual({ error: { code: 'INTERNAL', message: 'internal error (request req-1)' } });
    expect(logged).toHaveBeenCalledOnce();
    logged.mockRestore();
  });
});
