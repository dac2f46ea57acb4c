/**
 * The license lease: what the global service grants a site's mirror so it can answer
 * agents under the license without asking upstream, also from an isolated segment. Signed
 * by the service's timestamp key, which the mirror already trusts through the TUF root it
 * was set up with (the root lists that key for the `timestamp` role); the signature covers
 * a context string first, so no lease can pass for TUF metadata or the other way round.
 *
 * It carries: the license (its key's hash, products, status, expiry), the seats assigned
 * to this mirror (taken from the license upstream, so mirrors never oversubscribe it),
 * the blacklist as of issue, and the channels of the entitled products (so rollout waves
 * and halts reach agents behind a mirror as they reach direct ones).
 */
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { canonicalize } from '@tufjs/canonical-json';
import type { Root } from '@tufjs/models';
import type { LicenseStatus } from '#lib/licensing/model.ts';
import type { Channel } from '#lib/releases/store.ts';
import type { Signer } from '#lib/tuf/signer.ts';

export const LEASE_CONTEXT = 'signet-lease/1';

export interface LeasePayload {
  readonly kind: typeof LEASE_CONTEXT;
  /** The mirror it was issued to (`signet mirror status` shows the id). */
  readonly mirrorId: string;
  readonly licenseId: string;
  /** SHA-256 of the normalized license key: the mirror checks agents' keys against it. */
  readonly keyHash: string;
  readonly customer: string;
  readonly products: readonly string[];
  readonly licenseStatus: LicenseStatus;
  readonly licenseExpiresAt: string;
  readonly reclaimAfterDays: number;
  /** Seats assigned to this mirror, out of the license's. */
  readonly seats: number;
  readonly issuedAt: string;
  /** The mirror stops answering agents after this (503 LEASE_EXPIRED) unless renewed. */
  readonly expiresAt: string;
  /** Machine hashes blacklisted when it was issued. */
  readonly blacklist: readonly string[];
  /** The channels of the entitled products, as the service holds them. */
  readonly channels: readonly Channel[];
  /**
   * A lease for a bundle names the version of the timestamp the service signed for that
   * bundle: an import takes the lease only with that timestamp, so no lease can be moved
   * from one bundle into another.
   */
  readonly timestampVersion?: number;
}

export interface SignedLease {
  readonly signed: LeasePayload;
  readonly signatures: ReadonlyArray<{ readonly keyid: string; readonly sig: string }>;
}

/** The bytes a lease signature covers: the context, then the payload's canonical JSON. */
export function leaseSigningBytes(payload: LeasePayload): Buffer {
  return Buffer.from(`${LEASE_CONTEXT}\n${canonicalize(payload as unknown as Parameters<typeof canonicalize>[0])}`);
}

export async function signLease(payload: LeasePayload, signer: Signer): Promise<SignedLease> {
  const sig = await signer.sign(leaseSigningBytes(payload));
  return { signed: payload, signatures: [{ keyid: signer.key.keyID, sig: sig.toString('hex') }] };
}

export type LeaseVerdict = { readonly ok: true; readonly lease: LeasePayload } | { readonly ok: false; readonly reason: string };

/**
 * Checks a lease against the trusted root: a threshold of the `timestamp` role's keys
 * signed it, it is for `mirrorId` and `licenseId`, and it has not expired at `now`.
 */
export function verifyLease(lease: SignedLease, root: Root, expect: { mirrorId: string; licenseId?: string; now: Date }): LeaseVerdict {
  const payload = lease.signed;
  if (payload?.kind !== LEASE_CONTEXT) return { ok: false, reason: 'not a Signet lease' };
  const role = root.roles.timestamp;
  if (!role) return { ok: false, reason: 'the trusted root has no timestamp role' };
  const bytes = leaseSigningBytes(payload);
  const signedBy = new Set<string>();
  for (const { keyid, sig } of lease.signatures ?? []) {
    const key = root.keys[keyid];
    if (!key || !role.keyIDs.includes(keyid) || signedBy.has(keyid)) continue;
    try {
      if (cryptoVerify('sha256', bytes, createPublicKey(key.keyVal.public ?? ''), Buffer.from(sig, 'hex'))) signedBy.add(keyid);
    } catch {
      // a malformed key or signature counts as no signature
    }
  }
  if (signedBy.size < role.threshold) return { ok: false, reason: 'not signed by the service (the trusted root\'s timestamp keys)' };
  if (payload.mirrorId !== expect.mirrorId) return { ok: false, reason: `issued to mirror ${payload.mirrorId}, not to this one (${expect.mirrorId})` };
  if (expect.licenseId !== undefined && payload.licenseId !== expect.licenseId) return { ok: false, reason: `issued for license ${payload.licenseId}, not for this mirror's` };
  if (Date.parse(payload.expiresAt) <= expect.now.getTime()) return { ok: false, reason: `expired at ${payload.expiresAt}` };
  return { ok: true, lease: payload };
}

/** How long a lease lasts by default, and at most: long enough to ride out an upstream outage, short enough that a revocation still lands. */
export const DEFAULT_LEASE_DAYS = 7;
export const MAX_LEASE_DAYS = 30;

/**
 * The lease ordering rule: a mirror never goes back to a lease issued before the one it
 * holds, which could carry more seats, an older blacklist and older channels. `toleranceMs`
 * allows for clocks of the service's regions a little apart (a sync); an import has none.
 * Returns why `next` is refused, or undefined.
 */
export function leaseOlderThanHeld(next: LeasePayload, held: LeasePayload | undefined, toleranceMs = 0): string | undefined {
  if (!held) return undefined;
  const issued = Date.parse(next.issuedAt);
  const heldIssued = Date.parse(held.issuedAt);
  if (Number.isNaN(issued) || issued + toleranceMs < heldIssued) return `issued at ${next.issuedAt}, before the lease this mirror holds (${held.issuedAt}): a mirror never goes back to an older lease`;
  return undefined;
}
