import { describe, expect, it } from 'vitest';
import { defaultRuntimeSettings, variables } from '#lib/config.ts';
import { EXPIRY_WARNING_DAYS, expiringSoon, SNAPSHOT_RENEWAL_DAYS, snapshotDueForRenewal } from '#lib/releases/expiry.ts';
import { EXPIRY_DAYS, expiresIn } from '#lib/tuf/metadata.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const signedAt = new Date('2027-03-01T00:00:00Z');
const at = (ms: number) => new Date(signedAt.getTime() + ms);
/** A snapshot signed at `signedAt`, and a day-long timestamp signed at `now`, as the refresh would ask. */
const due = (now: Date, timestampDays = 1) => snapshotDueForRenewal(expiresIn(EXPIRY_DAYS.snapshot, signedAt), now, expiresIn(timestampDays, now));

describe('snapshotDueForRenewal', () => {
  it('renews a 30-day snapshot once less than a third of its life (10 days) is left, not before', () => {
    expect(SNAPSHOT_RENEWAL_DAYS).toBe(10);
    expect(due(at(0))).toBe(false);
    expect(due(at(19 * DAY))).toBe(false);
    expect(due(at(20 * DAY - 1000))).toBe(false);
    expect(due(at(20 * DAY + 1000))).toBe(true);
    expect(due(at(29 * DAY + 23 * HOUR))).toBe(true);
    expect(due(at(31 * DAY))).toBe(true); // already expired: renewed all the more
  });

  it('renews a snapshot the timestamp to be signed would outlive, whatever the margin says', () => {
    expect(due(at(5 * DAY), 24)).toBe(false); // expires at day 29, the snapshot at day 30
    expect(due(at(7 * DAY), 24)).toBe(true); // expires at day 31
  });

  it('at any timestamp lifetime the setting allows, the margin decides: a timestamp never outlives the snapshot it names', () => {
    expect(defaultRuntimeSettings().timestampExpiryHours / 24).toBeLessThan(SNAPSHOT_RENEWAL_DAYS);
    expect(variables.timestampExpiryHours.parse(String(SNAPSHOT_RENEWAL_DAYS * 24))).toBe(240);
    expect(variables.timestampExpiryHours.parse('241')).toHaveProperty('problem');
    // The longest allowed, signed just before the margin is reached: still within the snapshot's life.
    expect(due(at(20 * DAY - 1000), SNAPSHOT_RENEWAL_DAYS)).toBe(false);
  });
});

describe('expiringSoon', () => {
  const now = new Date('2027-03-01T12:00:00Z');
  const metadata = (role: 'root' | 'targets', days: number) => ({ role, version: 3, expires: new Date(now.getTime() + days * DAY).toISOString() });

  it('reports root or targets metadata expiring within 30 days, with the whole days left', () => {
    expect(EXPIRY_WARNING_DAYS).toBe(30);
    expect(expiringSoon([metadata('root', 31), metadata('targets', 365)], now)).toEqual([]);
    expect(expiringSoon([metadata('root', 31), metadata('targets', 29.5)], now)).toEqual([{ ...metadata('targets', 29.5), daysLeft: 29 }]);
    expect(expiringSoon([metadata('root', 0.5)], now)).toEqual([{ ...metadata('root', 0.5), daysLeft: 0 }]);
  });

  it('reports expired metadata too, with negative days', () => {
    expect(expiringSoon([metadata('targets', -2)], now)).toEqual([{ ...metadata('targets', -2), daysLeft: -2 }]);
  });
});
