import { describe, expect, it } from 'vitest';
import { apiGatewayTime, fromLambdaResult, toApiGatewayEvent } from '#lib/edge/api-gateway-event.ts';
import type { IncomingRequest } from '#lib/edge/api-gateway-event.ts';

function request(overrides: Partial<IncomingRequest> = {}): IncomingRequest {
  return {
    method: 'POST',
    url: '/v1/agents?a=1&a=2&b=x%20y',
    headers: { 'content-type': 'application/json', 'user-agent': 'agent/1.0', host: '127.0.0.1:8080', cookie: 'c1=v1; c2=v2' },
    body: Buffer.from('{"x":1}'),
    sourceIp: '10.1.2.3',
    receivedAt: new Date(Date.UTC(2026, 10, 21, 4, 59, 57, 123)),
    ...overrides,
  };
}

const route = { routeKey: 'POST /v1/agents', pathParameters: {} };

describe('toApiGatewayEvent builds an HTTP API payload 2.0 event', () => {
  it('carries the raw path, raw query, route key and a request context with source IP and time', () => {
    const event = toApiGatewayEvent(request(), route);
    expect(event.version).toBe('2.0');
    expect(event.routeKey).toBe('POST /v1/agents');
    expect(event.rawPath).toBe('/v1/agents');
    expect(event.rawQueryString).toBe('a=1&a=2&b=x%20y');
    expect(event.requestContext.http).toEqual({
      method: 'POST',
      path: '/v1/agents',
      protocol: 'HTTP/1.1',
      sourceIp: '10.1.2.3',
      userAgent: 'agent/1.0',
    });
    expect(event.requestContext.stage).toBe('$default');
    expect(event.requestContext.time).toBe('21/Nov/2026:04:59:57 +0000');
    expect(event.requestContext.timeEpoch).toBe(Date.UTC(2026, 10, 21, 4, 59, 57, 123));
    expect(event.requestContext.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('joins repeated query parameters with commas and decodes them, as API Gateway does', () => {
    expect(toApiGatewayEvent(request(), route).queryStringParameters).toEqual({ a: '1,2', b: 'x y' });
  });

  it('lower-cases header names and moves cookies to their own field', () => {
    const event = toApiGatewayEvent(request({ headers: { 'X-Custom': 'v', cookie: 'c1=v1; c2=v2' } }), route);
    expect(event.headers).toEqual({ 'x-custom': 'v' });
    expect(event.cookies).toEqual(['c1=v1', 'c2=v2']);
  });

  it('passes a JSON body as text and a binary body base64-encoded', () => {
    const text = toApiGatewayEvent(request(), route);
    expect(text).toMatchObject({ body: '{"x":1}', isBase64Encoded: false });
    const bytes = Buffer.from([0, 1, 2, 255]);
    const binary = toApiGatewayEvent(request({ headers: { 'content-type': 'application/octet-stream' }, body: bytes }), route);
    expect(binary.isBase64Encoded).toBe(true);
    expect(Buffer.from(binary.body ?? '', 'base64')).toEqual(bytes);
  });

  it('omits body, query and path parameters when there are none', () => {
    const event = toApiGatewayEvent(request({ method: 'GET', url: '/v1/health', body: Buffer.alloc(0) }), { routeKey: 'GET /v1/health', pathParameters: {} });
    expect(event).not.toHaveProperty('body');
    expect(event).not.toHaveProperty('queryStringParameters');
    expect(event).not.toHaveProperty('pathParameters');
    expect(event.isBase64Encoded).toBe(false);
  });

  it('passes path parameters from the matched route', () => {
    const event = toApiGatewayEvent(request({ url: '/v1/licenses/abc' }), { routeKey: 'GET /v1/licenses/{key}', pathParameters: { key: 'abc' } });
    expect(event.pathParameters).toEqual({ key: 'abc' });
  });
});

describe('fromLambdaResult reads a result as API Gateway does', () => {
  it('takes a structured result as is, decoding a base64 body', () => {
    const response = fromLambdaResult({ statusCode: 201, headers: { 'Content-Type': 'text/plain' }, body: Buffer.from('hi').toString('base64'), isBase64Encoded: true, cookies: ['a=b'] });
    expect(response.statusCode).toBe(201);
    expect(response.headers).toEqual({ 'content-type': 'text/plain', 'set-cookie': ['a=b'] });
    expect(response.body.toString()).toBe('hi');
  });

  it('turns a plain object into a 200 JSON response', () => {
    const response = fromLambdaResult({ status: 'ok' } as never);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/json');
    expect(JSON.parse(response.body.toString())).toEqual({ status: 'ok' });
  });

  it('turns no result into an empty 200', () => {
    expect(fromLambdaResult(undefined)).toMatchObject({ statusCode: 200 });
  });
});

describe('apiGatewayTime', () => {
  it('pads day, hours, minutes and seconds', () => {
    expect(apiGatewayTime(new Date(Date.UTC(2026, 0, 2, 3, 4, 5)))).toBe('02/Jan/2026:03:04:05 +0000');
  });
});
