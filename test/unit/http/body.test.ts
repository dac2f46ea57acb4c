import { errorStatus } from '#lib/http/errors.ts';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { parseJsonBody, parseWith, unsupportedMediaType } from '#lib/http/body.ts';

const schema = z.strictObject({ name: z.string() });
const event = (headers: Record<string, string>, body = '{"name":"x"}') => ({ headers, body, isBase64Encoded: false }) as unknown as APIGatewayProxyEventV2;

describe('parseJsonBody reads UTF-8 JSON sent as is, and nothing else', () => {
  it.each([
    ['no charset', { 'content-type': 'application/json' }],
    ['charset=utf-8', { 'content-type': 'application/json; charset=utf-8' }],
    ['charset=UTF-8, any case and spacing', { 'content-type': 'Application/JSON;Charset=UTF-8' }],
    ['a quoted charset', { 'content-type': 'application/json; charset="utf-8"' }],
    ['another parameter', { 'content-type': 'application/json; foo=bar' }],
    ['Content-Encoding: identity', { 'content-type': 'application/json', 'content-encoding': 'identity' }],
    ['Content-Encoding: IDENTITY', { 'content-type': 'application/json', 'content-encoding': 'IDENTITY' }],
  ])('accepts %s', (_name, headers) => {
    expect(unsupportedMediaType(headers)).toBeUndefined();
    expect(parseJsonBody(event(headers), schema)).toEqual({ name: 'x' });
  });

  it.each([
    ['charset=utf-16', { 'content-type': 'application/json; charset=utf-16' }],
    ['charset=UTF-16LE', { 'content-type': 'application/json; charset=UTF-16LE' }],
    ['charset=iso-8859-1', { 'content-type': 'application/json; charset=iso-8859-1' }],
    ['an empty charset', { 'content-type': 'application/json; charset=' }],
    ['a second charset that is not utf-8', { 'content-type': 'application/json; charset=utf-8; charset=utf-16' }],
    ['Content-Encoding: gzip', { 'content-type': 'application/json', 'content-encoding': 'gzip' }],
    ['Content-Encoding: br', { 'content-type': 'application/json', 'content-encoding': 'br' }],
    ['Content-Encoding: identity, gzip', { 'content-type': 'application/json', 'content-encoding': 'identity, gzip' }],
    ['another media type', { 'content-type': 'text/plain' }],
    ['no content type', {}],
  ])('refuses %s with 415 UNSUPPORTED_MEDIA_TYPE', (_name, headers) => {
    expect(() => parseJsonBody(event(headers), schema)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_MEDIA_TYPE' }));
    expect(errorStatus.UNSUPPORTED_MEDIA_TYPE).toBe(415);
  });
});

describe('parseJsonBody names the field and says what it must be', () => {
  const typed = z.strictObject({ count: z.int(), items: z.array(z.string()), inner: z.strictObject({}) });
  it.each([
    ['{"count":1.5,"items":[],"inner":{}}', 'count: must be a whole number'],
    ['{"count":1,"items":"x","inner":{}}', 'items: must be an array'],
    ['{"count":1,"items":[],"inner":3}', 'inner: must be a JSON object'],
    ['{"items":[],"inner":{}}', 'count: is required'],
  ])('%s: %s', (body, message) => {
    expect(() => parseJsonBody(event({ 'content-type': 'application/json' }, body), typed)).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST', message }));
  });
});

describe('parseWith names a value that is not a body (a path parameter) by the name it is given', () => {
  const product = z.string().check(z.regex(/^[a-z-]+$/));

  it('says which path parameter is wrong, or missing', () => {
    expect(() => parseWith(product, 'bad\0name', 'product')).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST', message: 'product: has characters or a form that is not allowed' }));
    expect(() => parseWith(product, undefined, 'product')).toThrow(expect.objectContaining({ message: 'product: is required' }));
  });

  it('keeps a field of an object as the field, and a body as "body"', () => {
    expect(() => parseWith(schema, { name: 1 }, 'query')).toThrow(expect.objectContaining({ message: 'name: must be a string' }));
    expect(() => parseWith(product, 'Bad')).toThrow(expect.objectContaining({ message: 'body: has characters or a form that is not allowed' }));
  });
});
