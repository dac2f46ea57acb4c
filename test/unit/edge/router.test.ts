import { describe, expect, it } from 'vitest';
import { createRouter } from '#lib/edge/router.ts';

const match = createRouter([
  { method: 'GET', path: '/v1/health', functionId: 'health', authorization: 'public' },
  { method: 'GET', path: '/v1/licenses/{key}', functionId: 'license', authorization: 'iam' },
  { method: 'POST', path: '/v1/licenses/{key}/suspend', functionId: 'license', authorization: 'iam' },
  { method: 'GET', path: '/v1/files/{path+}', functionId: 'files', authorization: 'public' },
]);

describe('the local router, with API Gateway path syntax', () => {
  it('matches a literal path and method', () => {
    expect(match('GET', '/v1/health')).toMatchObject({ kind: 'found', routeKey: 'GET /v1/health' });
  });

  it('extracts and decodes a {param} segment', () => {
    expect(match('GET', '/v1/licenses/a%2Fb')).toMatchObject({ kind: 'found', pathParameters: { key: 'a/b' } });
  });

  it('lets a {param} take exactly one segment', () => {
    expect(match('GET', '/v1/licenses/a/b')).toEqual({ kind: 'not-found' });
    expect(match('POST', '/v1/licenses/k1/suspend')).toMatchObject({ kind: 'found', pathParameters: { key: 'k1' } });
  });

  it('lets a {param+} take the rest of the path', () => {
    expect(match('GET', '/v1/files/a/b/c')).toMatchObject({ kind: 'found', pathParameters: { path: 'a/b/c' } });
  });

  it('tells a wrong method (405, with the methods the path allows) from an unknown path (404)', () => {
    expect(match('POST', '/v1/health')).toEqual({ kind: 'method-not-allowed', allow: ['GET'] });
    expect(match('GET', '/v1/nothing')).toEqual({ kind: 'not-found' });
  });

  it('keeps a malformed escape as it came instead of throwing', () => {
    expect(match('GET', '/v1/licenses/%E0%A4%A')).toMatchObject({ kind: 'found', pathParameters: { key: '%E0%A4%A' } });
  });
});
