/** A license record and its key, for unit tests of the licensing use cases. */
import type { License } from '#lib/licensing/model.ts';
import { licenseIdOf, licenseKeyHash, newLicenseKey } from '#lib/licensing/secrets.ts';

export function testLicense(overrides: Partial<License> = {}): { key: string; license: License } {
  const key = newLicenseKey();
  return {
    key,
    license: {
      licenseId: licenseIdOf(key),
      keyHash: licenseKeyHash(key),
      customer: 'ACME',
      products: ['demo-av'],
      seats: 2,
      seatsUsed: 0,
      status: 'active',
      expiresAt: '2099-01-01T00:00:00Z',
      reclaimAfterDays: 30,
      createdAt: '2026-01-01T00:00:00Z',
      updatedAt: '2026-01-01T00:00:00Z',
      ...overrides,
    },
  };
}
