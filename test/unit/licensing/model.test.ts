import { AgentRevoked } from '#lib/errors.ts';
import { errorStatus } from '#lib/http/errors.ts';
import { describe, expect, it } from 'vitest';
import type { License } from '#lib/licensing/model.ts';
import { isReclaimable, licenseRefusal, registrationRefusal } from '#lib/licensing/model.ts';
import { expiryInstant } from '#lib/licensing/requests.ts';

const now = new Date('2026-11-21T12:00:00Z');
function license(overrides: Partial<License> = {}): License {
  return {
    licenseId: 'l',
    keyHash: 'h',
    customer: 'c',
    products: ['demo-av'],
    seats: 1,
    seatsUsed: 0,
    status: 'active',
    expiresAt: '2027-01-01T00:00:00Z',
    reclaimAfterDays: 30,
    createdAt: '',
    updatedAt: '',
    ...overrides,
  };
}

describe('licenseRefusal', () => {
  it('lets a valid license serve an entitled product', () => {
    expect(licenseRefusal(license(), 'demo-av', now)).toBeUndefined();
  });

  it.each([
    [undefined, 'LICENSE_INVALID'],
    [license({ status: 'revoked', expiresAt: '2020-01-01T00:00:00Z' }), 'LICENSE_REVOKED'],
    [license({ status: 'suspended', expiresAt: '2020-01-01T00:00:00Z' }), 'LICENSE_SUSPENDED'],
    [license({ expiresAt: '2026-11-21T12:00:00Z', products: [] }), 'LICENSE_EXPIRED'],
    [license({ products: ['other'] }), 'PRODUCT_NOT_ENTITLED'],
  ])('answers %j with the most permanent reason, %s', (input, code) => {
    expect(licenseRefusal(input, 'demo-av', now)?.code).toBe(code);
  });
});

describe('registrationRefusal', () => {
  it('refuses the computer of a revoked agent with 403 AGENT_REVOKED naming the agent', () => {
    const refusal = registrationRefusal({ agentId: 'a1', status: 'revoked' });
    expect(refusal).toBeInstanceOf(AgentRevoked);
    expect(refusal?.code).toBe('AGENT_REVOKED');
    expect(errorStatus[refusal?.code ?? 'INTERNAL']).toBe(403);
    expect(refusal?.message).toContain('a1');
  });

  it.each(['active', 'reclaimed', 'unrevoked'] as const)('lets a %s agent register again', (status) => {
    expect(registrationRefusal({ agentId: 'a1', status })).toBeUndefined();
  });

  it('lets a computer without an agent register', () => {
    expect(registrationRefusal(undefined)).toBeUndefined();
  });
});

describe('isReclaimable', () => {
  it('reclaims only an active agent silent longer than the license allows', () => {
    const lic = { reclaimAfterDays: 1 };
    expect(isReclaimable({ status: 'active', lastSeenAt: '2026-11-20T11:59:59Z' }, lic, now)).toBe(true);
    expect(isReclaimable({ status: 'active', lastSeenAt: '2026-11-20T12:00:01Z' }, lic, now)).toBe(false);
    expect(isReclaimable({ status: 'revoked', lastSeenAt: '2020-01-01T00:00:00Z' }, lic, now)).toBe(false);
  });
});

describe('expiryInstant', () => {
  it('reads a date as the end of that day UTC and keeps a date-time as it is', () => {
    expect(expiryInstant('2027-12-31')?.toISOString()).toBe('2027-12-31T23:59:59.999Z');
    expect(expiryInstant('2027-12-31T10:00:00+02:00')?.toISOString()).toBe('2027-12-31T08:00:00.000Z');
    expect(expiryInstant('2027-13-45')).toBeUndefined();
  });
});
