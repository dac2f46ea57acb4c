/**
 * The request bodies of the licensing endpoints, as zod/mini schemas built once at init.
 * Strict objects: an unknown field is a client bug worth hearing about.
 */
import * as z from 'zod/mini';
import { freeText } from '#lib/http/text.ts';
import { MAX_LEASE_DAYS } from '#lib/mirror/lease.ts';

const token = (max: number) => z.string().check(z.minLength(1), z.maxLength(max), z.regex(/^[A-Za-z0-9._-]+$/));

export const productName = z.string().check(z.minLength(1), z.maxLength(63), z.regex(/^[a-z0-9][a-z0-9-]*$/));

/**
 * Machine ids as platforms make them: /etc/machine-id, a Windows MachineGuid (with or
 * without braces), a serial. Normalized here, once, to lower case: tools print the same
 * GUID in either case, and registration, the manifest and the blacklist must all hash
 * the same form (docs/data-model.md, "Machine ids").
 */
export const machineId = z.string().check(z.minLength(1), z.maxLength(128), z.regex(/^[A-Za-z0-9._:{}-]+$/), z.toLowerCase());

export const registrationBody = z.strictObject({
  licenseKey: freeText(64, 1),
  machineId,
  product: productName,
  os: token(32),
  arch: token(32),
  hostname: z.optional(freeText(253, 1)),
  agentVersion: z.optional(token(64)),
});

export const createLicenseBody = z.strictObject({
  customer: freeText(200, 1),
  products: z.array(productName).check(z.minLength(1), z.maxLength(50)),
  seats: z.int().check(z.minimum(1), z.maximum(1_000_000)),
  /** A date (`2027-12-31`, the end of that day UTC) or a date-time. */
  expires: z.string().check(z.maxLength(40), z.regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/)),
  reclaimAfterDays: z.optional(z.int().check(z.minimum(1), z.maximum(3650))),
});

/** A site mirror's id, as `signet mirror` makes it: 128 random bits in lower-case hex. */
export const mirrorId = z.string().check(z.regex(/^[0-9a-f]{32}$/));

const leaseDays = z.int().check(z.minimum(1), z.maximum(MAX_LEASE_DAYS));

/** POST /v1/mirrors/lease: seats wanted under the license (0 gives them all back), and for how long. */
export const leaseBody = z.strictObject({
  licenseKey: freeText(64, 1),
  mirrorId,
  seats: z.int().check(z.minimum(0), z.maximum(100_000)),
  validDays: z.optional(leaseDays),
  /** For a bundle: the version of the timestamp the service signed for it (POST /v1/mirrors/offline-timestamp), which the lease then names. */
  timestampVersion: z.optional(z.int().check(z.minimum(1))),
});

/** POST /v1/mirrors/offline-timestamp. */
export const offlineTimestampBody = z.strictObject({
  licenseKey: freeText(64, 1),
  mirrorId,
  validDays: leaseDays,
});

export const blacklistBody = z.strictObject({
  reason: z.optional(freeText(500)),
});

/** `2027-12-31` means through the end of that day, UTC. */
export function expiryInstant(expires: string): Date | undefined {
  const instant = /^\d{4}-\d{2}-\d{2}$/.test(expires) ? new Date(`${expires}T23:59:59.999Z`) : new Date(expires);
  return Number.isNaN(instant.getTime()) ? undefined : instant;
}
