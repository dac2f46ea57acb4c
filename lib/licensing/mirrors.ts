/**
 * Site mirrors under a license: the seats each holds (taken from the license, so mirrors
 * and agents together never hold more than it has), the signed lease it answers its
 * agents under (lib/mirror/lease.ts), and who a mirror is on its other calls. A mirror
 * authenticates with the license key, as an agent registering does.
 */
import { backoffPause } from '#lib/concurrency.ts';
import type { Grant } from '#lib/delivery/grant.ts';
import type { ManifestDeps } from '#lib/delivery/manifest.ts';
import { Conflict, LicenseInvalid, NotFound, SeatsExhausted, Unavailable } from '#lib/errors.ts';
import type { LeasePayload, SignedLease } from '#lib/mirror/lease.ts';
import { DEFAULT_LEASE_DAYS, LEASE_CONTEXT, signLease } from '#lib/mirror/lease.ts';
import type { OfflineTimestamp, RepositoryDeps } from '#lib/releases/repository.ts';
import { offlineTimestamp } from '#lib/releases/repository.ts';
import type { ReleaseStore } from '#lib/releases/store.ts';
import type { Signer } from '#lib/tuf/signer.ts';
import type { License, MirrorRecord } from './model.ts';
import { leaseExpiry, licenseStateRefusal } from './model.ts';
import type { ReclaimStore } from './register.ts';
import { MAX_ATTEMPTS, reclaimOneSeat } from './register.ts';
import { digestsEqual, licenseIdOf, licenseKeyHash } from './secrets.ts';
import type { LicensingStore } from './store.ts';

/** What a lease says changed a channel: the service, whoever acted there. */
export const LEASED_CHANNEL_AUTHOR = 'signet';

/** What the mirror use cases need of the licensing store (an in-memory fake stands in for it in unit tests). */
export type MirrorStore = Pick<LicensingStore, 'readMirror' | 'assignMirrorSeats' | 'blacklistedMachines'> & ReclaimStore;

export interface LeaseRequest {
  readonly licenseKey: string;
  readonly mirrorId: string;
  readonly seats: number;
  readonly validDays?: number;
  /** A lease for a bundle names the bundle's timestamp version (lib/mirror/lease.ts). */
  readonly timestampVersion?: number;
}

/** The grants, URLs and poll interval come as the manifest's do. */
export interface LeaseDeps extends Pick<ManifestDeps, 'grants' | 'cdnBaseUrl' | 'pollSeconds'> {
  readonly store: MirrorStore;
  readonly releases: Pick<ReleaseStore, 'channels'>;
  /** The service's online timestamp key: the mirror trusts it through its TUF root. */
  readonly signer: Signer;
}

export interface IssuedLease {
  readonly lease: SignedLease;
  /** A download grant per entitled product: the mirror fetches targets from the CDN with them. */
  readonly grants: Readonly<Record<string, Grant>>;
  readonly metadataUrl: string;
  readonly targetsUrl: string;
  readonly pollSeconds: number;
}

/** Seats freed by reclaims (silent agents, long-expired mirrors) for one lease request at most; a mirror asking for more asks again. */
const MAX_RECLAIMS = 25;

/** The license a key names, if the key is its key: the same check as registration's, in constant time. */
function licenseOfKey(license: License | undefined, keyHash: string): License | undefined {
  return license && digestsEqual(license.keyHash, keyHash) ? license : undefined;
}

/**
 * Gives the mirror `seats` seats under the license (its count moves by the difference,
 * in one transaction with the mirror record), then issues a lease valid `validDays` (at
 * most until the license expires), signed with the timestamp key, with the blacklist and
 * the channels of every entitled product as they are now, and a download grant per product.
 * The same seats again renews the lease without moving any.
 */
export async function leaseMirror(deps: LeaseDeps, request: LeaseRequest, now: () => Date): Promise<IssuedLease> {
  const keyHash = licenseKeyHash(request.licenseKey);
  const licenseId = licenseIdOf(request.licenseKey);
  const validDays = request.validDays ?? DEFAULT_LEASE_DAYS;
  let reclaims = 0;

  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (attempt > 0) await backoffPause(attempt);
    const at = now();
    const read = await deps.store.readMirror(licenseId, request.mirrorId);
    const license = licenseOfKey(read.license, keyHash);
    const refusal = licenseStateRefusal(license, at);
    if (refusal) throw refusal;
    if (!license) throw new LicenseInvalid(); // unreachable; narrows the type
    const previous = read.mirror;
    if (previous && previous.licenseId !== licenseId) throw new Conflict(`mirror ${request.mirrorId} belongs to another license: a mirror id is leased under one license only, so this mirror needs a new id`);

    const delta = request.seats - (previous?.seats ?? 0);
    if (delta > 0 && license.seatsUsed + delta > license.seats) {
      if (reclaims < MAX_RECLAIMS && (await reclaimOneSeat(deps.store, license, at))) {
        reclaims++;
        attempt--; // a reclaim is progress, not a conflict
        continue;
      }
      throw new SeatsExhausted(license.seats);
    }

    const expiresAt = leaseExpiry(license, validDays, at).toISOString();
    const next: MirrorRecord = {
      mirrorId: request.mirrorId,
      licenseId,
      seats: request.seats,
      leaseExpiresAt: expiresAt,
      leasedAt: at.toISOString(),
      createdAt: previous?.createdAt ?? at.toISOString(),
      ...(previous?.reclaimedAt !== undefined && { reclaimedAt: previous.reclaimedAt }),
      revision: (previous?.revision ?? 0) + 1,
    };
    const seatsMoved = previous === undefined || delta !== 0;
    const outcome = await deps.store.assignMirrorSeats({
      next,
      previous,
      licenseSeats: license.seats,
      keyHash,
      now: at,
      ...(seatsMoved && { audit: { actor: `mirror:${request.mirrorId}`, action: 'mirror.seats', subject: request.mirrorId, detail: { licenseId, seats: request.seats, previousSeats: previous?.seats ?? 0 } } }),
    });
    // Refused or in conflict: something changed between the read and the write (another
    // lease or registration, a suspension, a racing lease of this mirror id). Read again
    // and decide there.
    if (outcome.ok) return issueLease(deps, license, next, at, request.timestampVersion);
  }
  throw new Unavailable('the license is busy with other seat changes, retry later', 2);
}

async function issueLease(deps: LeaseDeps, license: License, mirror: MirrorRecord, at: Date, timestampVersion?: number): Promise<IssuedLease> {
  const [blacklist, channels, grants] = await Promise.all([
    deps.store.blacklistedMachines(),
    // Who changed a channel (an operator's or CI's ARN) stays at the service: a site needs the rollout, not who set it.
    Promise.all(license.products.map((product) => deps.releases.channels(product))).then((lists) => lists.flat().map((channel) => ({ ...channel, updatedBy: LEASED_CHANNEL_AUTHOR }))),
    Promise.all(license.products.map(async (product) => [product, await deps.grants.grant(product, at)] as const)).then((entries) => Object.fromEntries(entries)),
  ]);
  const payload: LeasePayload = {
    kind: LEASE_CONTEXT,
    mirrorId: mirror.mirrorId,
    licenseId: license.licenseId,
    keyHash: license.keyHash,
    customer: license.customer,
    products: license.products,
    licenseStatus: license.status,
    licenseExpiresAt: license.expiresAt,
    reclaimAfterDays: license.reclaimAfterDays,
    seats: mirror.seats,
    issuedAt: at.toISOString(),
    expiresAt: mirror.leaseExpiresAt,
    blacklist,
    channels,
    ...(timestampVersion !== undefined && { timestampVersion }),
  };
  return {
    lease: await signLease(payload, deps.signer),
    grants,
    metadataUrl: `${deps.cdnBaseUrl}/metadata/`,
    targetsUrl: `${deps.cdnBaseUrl}/targets/`,
    pollSeconds: deps.pollSeconds,
  };
}

/**
 * The license and mirror record behind a mirror's call other than a lease: the key must
 * be the license's, the license must serve, and the mirror must have been leased under
 * it (else 404 NOT_FOUND, the same whether the id is unknown or another license's).
 */
export async function authenticateMirror(store: Pick<LicensingStore, 'readMirror'>, licenseKey: string, mirrorId: string, now: Date): Promise<{ license: License; mirror: MirrorRecord }> {
  const licenseId = licenseIdOf(licenseKey);
  const read = await store.readMirror(licenseId, mirrorId);
  const license = licenseOfKey(read.license, licenseKeyHash(licenseKey));
  const refusal = licenseStateRefusal(license, now);
  if (refusal) throw refusal;
  if (!license) throw new LicenseInvalid(); // unreachable; narrows the type
  if (read.mirror?.licenseId !== licenseId) throw new NotFound(`mirror ${mirrorId} has no lease under this license: ask for one first (POST /v1/mirrors/lease)`);
  return { license, mirror: read.mirror };
}

/**
 * POST /v1/mirrors/offline-timestamp: a timestamp valid `validDays` (never past the license's expiry) for a mirror leased
 * under the license, for a bundle carried into an isolated segment (offlineTimestamp in
 * lib/releases/repository.ts; audited, as the mirror's).
 */
export async function mirrorOfflineTimestamp(
  deps: { readonly mirrors: Pick<LicensingStore, 'readMirror'>; readonly repository: RepositoryDeps },
  request: { readonly licenseKey: string; readonly mirrorId: string; readonly validDays: number },
  now: Date,
): Promise<OfflineTimestamp> {
  const { license, mirror } = await authenticateMirror(deps.mirrors, request.licenseKey, request.mirrorId, now);
  // Never valid past the license: an isolated segment's agents stop with the license, as the bundle's lease does.
  return offlineTimestamp(deps.repository, request.validDays, {
    notAfter: new Date(license.expiresAt),
    audit: {
      actor: `mirror:${mirror.mirrorId}`,
      action: 'mirror.offline-timestamp',
      subject: mirror.mirrorId,
      detail: { licenseId: license.licenseId, validDays: request.validDays },
    },
  });
}
