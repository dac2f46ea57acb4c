/**
 * When the repository's metadata nears its expiry, and what the scheduled refresh does
 * about it. Pure: the caller reads the metadata and the clock.
 *
 * - The snapshot is the service's own (online key): the refresh signs a new one over the
 *   same targets when the current one has less than a third of its lifetime left, so a
 *   repository with no publish and no rollout change for a month stays valid.
 * - Targets (CI's key) and root (offline keys) cannot be re-signed by the service: the
 *   refresh only says, at every run, that one expires within EXPIRY_WARNING_DAYS.
 *
 * docs/tuf-repository.md ("Expiry") gives the figures behind both numbers.
 */
import { EXPIRY_DAYS } from '#lib/tuf/metadata.ts';

const DAY_MS = 86_400_000;

/**
 * The snapshot is renewed once it has less than this left: a third of its lifetime
 * (10 of 30 days). Ten days for an operator to fix a renewal that fails (the refresh's
 * error alarm fires at the first failed try) before agents refuse the repository; and a
 * quiet repository moves its snapshot once every 20 days, not more.
 */
export const SNAPSHOT_RENEWAL_DAYS = EXPIRY_DAYS.snapshot / 3;

/** Targets or root metadata expiring within this many days is reported at every refresh. */
export const EXPIRY_WARNING_DAYS = 30;

/**
 * Whether a snapshot that expires at `snapshotExpires` is renewed by a refresh at `now`
 * that signs a timestamp expiring at `timestampExpires`: when less than
 * SNAPSHOT_RENEWAL_DAYS is left, or when the timestamp would outlive it (a client refuses
 * a chain with expired metadata anywhere, so a timestamp valid longer than its snapshot
 * is worth only the snapshot's life; with `timestampExpiryHours` above 240 that rule,
 * not the margin, decides).
 */
export function snapshotDueForRenewal(snapshotExpires: string, now: Date, timestampExpires: string): boolean {
  const expires = Date.parse(snapshotExpires);
  return expires - now.getTime() < SNAPSHOT_RENEWAL_DAYS * DAY_MS || expires < Date.parse(timestampExpires);
}

export interface SignedMetadataExpiry {
  readonly role: 'root' | 'targets';
  readonly version: number;
  /** As in the metadata: ISO 8601, UTC. */
  readonly expires: string;
}

export interface ExpiringMetadata extends SignedMetadataExpiry {
  /** Whole days left, rounded down; negative once expired. */
  readonly daysLeft: number;
}

/** The metadata among `signed` that expires within EXPIRY_WARNING_DAYS of `now` (or has expired), with the days left. */
export function expiringSoon(signed: readonly SignedMetadataExpiry[], now: Date): ExpiringMetadata[] {
  return signed.flatMap((metadata) => {
    const left = Date.parse(metadata.expires) - now.getTime();
    return left < EXPIRY_WARNING_DAYS * DAY_MS ? [{ ...metadata, daysLeft: Math.floor(left / DAY_MS) }] : [];
  });
}
