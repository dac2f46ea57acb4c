/**
 * Building and signing the TUF metadata of the signature repository with
 * `@tufjs/models`. Pure functions over metadata objects: where they are stored, who
 * may sign what and when is the caller's business (publish CLI, commit function).
 *
 * Layout (see docs/tuf-repository.md): consistent snapshots for metadata
 * (`N.root.json`, `N.targets.json`, `N.snapshot.json`, `timestamp.json`), and target
 * paths that are content-addressed themselves (`<product>/<sha256>.<name>`), so one
 * targets role holds every retained version at once and an unchanged file is one target.
 */
import { createHash } from 'node:crypto';
import { canonicalize } from '@tufjs/canonical-json';
import { Metadata, MetaFile, Root, Signature, Snapshot, Timestamp } from '@tufjs/models';
import type { Key , Targets} from '@tufjs/models';
import type { Signer } from './signer.ts';

export const SPEC_VERSION = '1.0.31';

export type RoleName = 'root' | 'targets' | 'snapshot' | 'timestamp';

/**
 * How long each role's metadata is valid. Timestamp is short so a frozen view is noticed
 * within a day; the service's timestamp lifetime is a runtime setting
 * (`timestampExpiryHours`), this is its default.
 */
export const EXPIRY_DAYS: Record<RoleName, number> = { root: 365, targets: 365, snapshot: 30, timestamp: 1 };

export function expiresIn(days: number, now: Date): string {
  // TUF wants whole seconds, UTC, with a Z.
  return new Date(Math.floor(now.getTime() / 1000) * 1000 + days * 86_400_000).toISOString().replace('.000Z', 'Z');
}

/** Signs metadata with each signer (async, so KMS can sign), replacing older signatures. */
export async function signMetadata<T extends Root | Targets | Snapshot | Timestamp>(metadata: Metadata<T>, signers: readonly Signer[]): Promise<Metadata<T>> {
  const bytes = Buffer.from(canonicalize(metadata.signed.toJSON()));
  metadata.signatures = {};
  for (const signer of signers) {
    const sig = await signer.sign(bytes);
    metadata.signatures[signer.key.keyID] = new Signature({ keyID: signer.key.keyID, sig: sig.toString('hex') });
  }
  return metadata;
}

export function newRoot(input: { keys: Record<RoleName, readonly Key[]>; thresholds?: Partial<Record<RoleName, number>>; version?: number; now: Date }): Metadata<Root> {
  const root = new Root({ version: input.version ?? 1, specVersion: SPEC_VERSION, expires: expiresIn(EXPIRY_DAYS.root, input.now), consistentSnapshot: true });
  for (const role of ['root', 'targets', 'snapshot', 'timestamp'] as const) {
    for (const key of input.keys[role]) root.addKey(key, role);
    const threshold = input.thresholds?.[role] ?? 1;
    const roleObject = root.roles[role];
    if (roleObject) (roleObject as { threshold: number }).threshold = threshold;
  }
  return new Metadata(root);
}

/** Serialized as a TUF client will read it: the metadata's JSON, no canonical form needed. */
export function toBytes(metadata: Metadata<Root | Targets | Snapshot | Timestamp>): Buffer {
  return Buffer.from(JSON.stringify(metadata.toJSON()));
}

export function parseRoot(bytes: Buffer | string): Metadata<Root> {
  return Metadata.fromJSON('root' as never, JSON.parse(bytes.toString())) as unknown as Metadata<Root>;
}
export function parseTargets(bytes: Buffer | string): Metadata<Targets> {
  return Metadata.fromJSON('targets' as never, JSON.parse(bytes.toString())) as unknown as Metadata<Targets>;
}
export function parseSnapshot(bytes: Buffer | string): Metadata<Snapshot> {
  return Metadata.fromJSON('snapshot' as never, JSON.parse(bytes.toString())) as unknown as Metadata<Snapshot>;
}
export function parseTimestamp(bytes: Buffer | string): Metadata<Timestamp> {
  return Metadata.fromJSON('timestamp' as never, JSON.parse(bytes.toString())) as unknown as Metadata<Timestamp>;
}

/** Whether `metadata` carries valid signatures of at least `role`'s threshold of keys listed in `root`. */
export function verifyRole(root: Root, role: RoleName, metadata: Metadata<Root | Targets | Snapshot | Timestamp>): boolean {
  try {
    new Metadata(root).verifyDelegate(role, metadata);
    return true;
  } catch {
    return false;
  }
}

/**
 * The first version in `roots` (consecutive versions, in order) that does not follow
 * from the one before it: version N+1 must be signed by a threshold of N's root keys and
 * of its own, as a TUF client walking them checks. Undefined when the chain holds.
 */
export function rootChainBreak(roots: readonly Metadata<Root>[]): number | undefined {
  for (let i = 0; i + 1 < roots.length; i++) {
    const current = roots[i] as Metadata<Root>;
    const next = roots[i + 1] as Metadata<Root>;
    const version = current.signed.version + 1;
    if (next.signed.version !== version || !verifyRole(current.signed, 'root', next) || !verifyRole(next.signed, 'root', next)) return version;
  }
  return undefined;
}

export function newSnapshot(targetsVersion: number, version: number, now: Date): Metadata<Snapshot> {
  return new Metadata(
    new Snapshot({ version, specVersion: SPEC_VERSION, expires: expiresIn(EXPIRY_DAYS.snapshot, now), meta: { 'targets.json': new MetaFile({ version: targetsVersion }) } }),
  );
}

/** `notAfter`: expire then at the latest (whole seconds, rounded down), however many days are asked for. */
export function newTimestamp(snapshotBytes: Buffer, snapshotVersion: number, version: number, now: Date, expiresInDays = EXPIRY_DAYS.timestamp, notAfter?: Date): Metadata<Timestamp> {
  const asked = expiresIn(expiresInDays, now);
  const expires = notAfter && notAfter.getTime() < Date.parse(asked) ? expiresIn(0, notAfter) : asked;
  return new Metadata(
    new Timestamp({
      version,
      specVersion: SPEC_VERSION,
      expires,
      snapshotMeta: new MetaFile({ version: snapshotVersion, length: snapshotBytes.length, hashes: { sha256: createHash('sha256').update(snapshotBytes).digest('hex') } }),
    }),
  );
}
