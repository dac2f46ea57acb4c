import { describe, expect, it } from 'vitest';
import { adminTarget, CONSOLE_ROUTE_KEYS } from '#console/routes.ts';
import { routeKey, routes } from '#lib/definitions/routes.ts';

describe('the admin routes the console forwards', () => {
  it('are admin (SigV4) routes of lib/definitions/routes.ts, every one', () => {
    const iam = routes.filter((r) => r.authorization === 'iam').map(routeKey);
    for (const key of CONSOLE_ROUTE_KEYS) expect(iam).toContain(key);
  });

  it('maps /api/<rest> to /v1/admin/<rest>, query string kept', () => {
    expect(adminTarget('GET', '/api/fleet/demo-av')).toBe('/v1/admin/fleet/demo-av');
    expect(adminTarget('GET', '/api/licenses?cursor=abc&limit=20')).toBe('/v1/admin/licenses?cursor=abc&limit=20');
    expect(adminTarget('POST', '/api/channels/demo-av/stable/promote')).toBe('/v1/admin/channels/demo-av/stable/promote');
    expect(adminTarget('DELETE', '/api/blacklist/pc-1')).toBe('/v1/admin/blacklist/pc-1');
  });

  it('forwards nothing the page does not use: publishing, the root, agent revocation, other methods', () => {
    expect(adminTarget('POST', '/api/releases')).toBeUndefined();
    expect(adminTarget('PUT', '/api/repository/root')).toBeUndefined();
    expect(adminTarget('GET', '/api/repository')).toBeUndefined();
    expect(adminTarget('POST', '/api/agents/0123/revoke')).toBeUndefined();
    expect(adminTarget('POST', `/api/licenses/${'a'.repeat(32)}/revoke`)).toBeUndefined();
    expect(adminTarget('DELETE', '/api/licenses')).toBeUndefined();
    expect(adminTarget('GET', '/v1/admin/licenses')).toBeUndefined();
  });

  it('refuses encoded slashes and dot segments rather than decoding them into another route', () => {
    expect(adminTarget('GET', '/api/fleet/demo%2F..%2Frepository')).toBeUndefined();
    expect(adminTarget('GET', '/api/fleet/..')).toBeUndefined();
    expect(adminTarget('GET', '/api/fleet/demo-av/extra')).toBeUndefined();
    expect(adminTarget('GET', '/api/fleet/')).toBeUndefined();
  });
});
