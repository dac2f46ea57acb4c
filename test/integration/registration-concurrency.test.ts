import { describe, expect, it } from 'vitest';
import type { LicenseView } from '#lib/licensing/admin.ts';
import { admin, createTestLicense, register, registrationFor } from '#test/support/licensing.ts';

describe('seats under concurrency', () => {
  it('lets exactly 25 of 100 simultaneous registrations of distinct machines into a 25-seat license', async () => {
    const { licenseKey, license } = await createTestLicense({ seats: 25 });
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => register(registrationFor(licenseKey, { machineId: `concurrent-${i}` }))));

    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(statuses.filter((s) => s === 201)).toHaveLength(25);
    expect(statuses.filter((s) => s === 409)).toHaveLength(75);
    expect(results.filter((r) => r.status === 409).every((r) => r.body.error?.code === 'SEATS_EXHAUSTED')).toBe(true);

    const shown = await (await admin()).call<{ license: LicenseView; seatHolders: unknown[] }>('GET', `/v1/admin/licenses/${license.licenseId}`);
    expect(shown.license.seatsUsed).toBe(25);
    expect(shown.seatHolders).toHaveLength(25);
  });

  it('takes one seat when the same machine registers 20 times at once', async () => {
    const { licenseKey, license } = await createTestLicense({ seats: 5 });
    const body = registrationFor(licenseKey);
    const results = await Promise.all(Array.from({ length: 20 }, () => register(body)));
    expect(results.filter((r) => r.status >= 500)).toEqual([]);
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.every((r) => r.status === 201 || r.status === 200)).toBe(true);
    const shown = await (await admin()).call<{ license: LicenseView }>('GET', `/v1/admin/licenses/${license.licenseId}`);
    expect(shown.license.seatsUsed).toBe(1);
  });
});
