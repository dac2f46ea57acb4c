/**
 * What a replica region's bucket may serve while S3 replication lags.
 *
 * S3 replication copies objects in no particular order and with no bound short of its
 * 15-minute SLA, so a replica bucket can hold a new timestamp before the snapshot it names,
 * or a snapshot before the targets metadata, set manifests, files and patches under it. An
 * agent that failed over to such a bucket would see a broken view. The rule:
 *
 * - `metadata/timestamp.json`, the one mutable pointer, is never replicated
 *   (`replicatedPrefixes` in lib/definitions/bucket.ts). Everything else is immutable
 *   (versioned metadata, content-addressed targets), so having it early harms no one.
 * - The primary writes each timestamp.json it publishes once more as a replica view
 *   (`replication/views/<version>.json`: the timestamp's exact bytes and the root version
 *   of that moment), which is replicated.
 * - In each replica region a promoter (functions/replica-promoter, every minute) copies a
 *   view's timestamp to `metadata/timestamp.json` only when every object the view names
 *   transitively is in the replica bucket: the roots up to its root version, the snapshot
 *   its timestamp names, the metadata that snapshot names, and every target of those
 *   targets metadata (set manifests, files and patches alike). Of several complete views
 *   the newest wins; a view never replaces a timestamp of its version or a newer one.
 *
 * So a replica serves either the previous complete view or the new one, never a mix.
 */
import { metadataSpace, replicaViewPrefix, targetsSpace, timestampKey } from '#lib/definitions/bucket.ts';
import { parseSnapshot, parseTargets, parseTimestamp } from '#lib/tuf/metadata.ts';
import { targetObjectKey } from './set-manifest.ts';

export const REPLICA_VIEW_FORMAT = 'signet-replica-view/1';

export interface ReplicaView {
  /** The TUF version of `timestamp`. */
  readonly timestampVersion: number;
  /** The repository's root version when it was signed: an agent walks roots up to it to trust its key. */
  readonly rootVersion: number;
  /** When the primary wrote it (ISO 8601). */
  readonly writtenAt: string;
  /** timestamp.json, byte for byte as the primary serves it. */
  readonly timestamp: Buffer;
}

export function replicaViewKey(timestampVersion: number): string {
  return `${replicaViewPrefix}${timestampVersion}.json`;
}

/** The timestamp version a replica view's key names, or undefined for any other key. */
export function replicaViewVersion(key: string): number | undefined {
  const match = new RegExp(`^${replicaViewPrefix}([1-9][0-9]*)\\.json$`).exec(key);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

export function encodeReplicaView(view: ReplicaView): Buffer {
  return Buffer.from(
    JSON.stringify({ format: REPLICA_VIEW_FORMAT, timestampVersion: view.timestampVersion, rootVersion: view.rootVersion, writtenAt: view.writtenAt, timestamp: view.timestamp.toString('base64') }),
  );
}

export function parseReplicaView(bytes: Buffer): ReplicaView {
  const raw = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  const { format, timestampVersion, rootVersion, writtenAt, timestamp } = raw;
  if (format !== REPLICA_VIEW_FORMAT) throw new Error(`not a replica view (format ${String(format)})`);
  if (!isVersion(timestampVersion) || !isVersion(rootVersion) || typeof writtenAt !== 'string' || Number.isNaN(Date.parse(writtenAt)) || typeof timestamp !== 'string') {
    throw new Error('a replica view needs timestampVersion, rootVersion, writtenAt and timestamp');
  }
  const bytesOfTimestamp = Buffer.from(timestamp, 'base64');
  const signedVersion = parseTimestamp(bytesOfTimestamp).signed.version;
  if (signedVersion !== timestampVersion) throw new Error(`the view says timestamp version ${timestampVersion}, its timestamp is version ${signedVersion}`);
  return { timestampVersion, rootVersion, writtenAt, timestamp: bytesOfTimestamp };
}

function isVersion(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1;
}

/** The staged versions a replica may move to from `served`: only newer ones, newest first. */
export function promotionCandidates(staged: Iterable<number>, served: number | undefined): number[] {
  return [...new Set(staged)].filter((version) => served === undefined || version > served).sort((a, b) => b - a);
}

/** The roots an agent walks to trust the view's timestamp key: 1 to the view's root version. */
export function rootKeysOf(view: ReplicaView): string[] {
  return Array.from({ length: view.rootVersion }, (_, i) => `${metadataSpace.prefix}${i + 1}.root.json`);
}

/** The snapshot the view's timestamp names. */
export function snapshotKeyOf(view: ReplicaView): string {
  return `${metadataSpace.prefix}${parseTimestamp(view.timestamp).signed.snapshotMeta.version}.snapshot.json`;
}

/** The metadata a snapshot names (consistent snapshots: `N.<role>.json`). */
export function keysNamedBySnapshot(snapshot: Buffer): string[] {
  return Object.entries(parseSnapshot(snapshot).signed.meta).map(([name, meta]) => `${metadataSpace.prefix}${meta.version}.${name}`);
}

/** The objects of every target the targets metadata vouches for: set manifests, files and patches. */
export function keysNamedByTargets(targets: Buffer): string[] {
  return Object.values(parseTargets(targets).signed.targets).map((target) => targetObjectKey(target.path, target.hashes.sha256 ?? ''));
}

/** What the promoter needs of the replica bucket. */
export interface ReplicaBucket {
  /** The object and its ETag, or undefined when it does not exist. */
  read(key: string): Promise<{ readonly body: Buffer; readonly etag?: string } | undefined>;
  /** Every key under a prefix. */
  list(prefix: string): Promise<Set<string>>;
  /**
   * Writes the object unless it changed since it was read: `etag` is what was read
   * (undefined: it did not exist, and must not now). False when it had changed.
   */
  putIfUnchanged(key: string, body: Buffer, etag: string | undefined): Promise<boolean>;
}

export interface PromotionResult {
  /** The timestamp version served after this run (undefined: none yet). */
  readonly servedVersion: number | undefined;
  /** The view written to the served key by this run. */
  readonly promoted?: number;
  /** The newest staged view that is newer than the served one and still incomplete. */
  readonly waiting?: { readonly timestampVersion: number; readonly missing: readonly string[] };
  /** How long the oldest view newer than the served one has waited since the primary wrote it, in seconds; 0 when none waits. */
  readonly waitingSeconds: number;
  /** Staged views that could not be read (never promoted; the next view replaces them). */
  readonly unreadable?: readonly number[];
}

/** What of `view` is not in the bucket yet (`present` is every key under metadata/ and targets/). */
export async function missingFromReplica(view: ReplicaView, bucket: Pick<ReplicaBucket, 'read'>, present: ReadonlySet<string>): Promise<string[]> {
  const snapshotKey = snapshotKeyOf(view);
  const missing = [...rootKeysOf(view), snapshotKey].filter((key) => !present.has(key));
  if (missing.length > 0) return missing;
  const snapshot = await bucket.read(snapshotKey);
  if (!snapshot) return [snapshotKey];
  const metadataKeys = keysNamedBySnapshot(snapshot.body);
  const missingMetadata = metadataKeys.filter((key) => !present.has(key));
  if (missingMetadata.length > 0) return missingMetadata;
  const missingTargets: string[] = [];
  // The top-level targets metadata: this repository delegates no roles.
  for (const key of metadataKeys.filter((k) => k.endsWith('.targets.json'))) {
    const targets = await bucket.read(key);
    if (!targets) return [key];
    for (const target of keysNamedByTargets(targets.body)) if (!present.has(target)) missingTargets.push(target);
  }
  return missingTargets;
}

/**
 * One run of the promoter: serves the newest staged view that is newer than what is
 * served and complete in this bucket, if any. A write that loses a race (the served
 * timestamp changed since it was read: another run, or a timestamp signed in this region)
 * starts over from what is served then.
 */
export async function promoteReplicaView(deps: { readonly bucket: ReplicaBucket; readonly now: () => Date }): Promise<PromotionResult> {
  const { bucket } = deps;
  for (let attempt = 0; attempt < 3; attempt++) {
    const served = await bucket.read(timestampKey);
    const servedVersion = served ? servedTimestampVersion(served.body) : undefined;
    const staged = [...(await bucket.list(replicaViewPrefix))].map(replicaViewVersion).filter((v): v is number => v !== undefined);
    const candidates = promotionCandidates(staged, servedVersion);
    if (candidates.length === 0) return { servedVersion, waitingSeconds: 0 };

    const present = new Set([...(await bucket.list(metadataSpace.prefix)), ...(await bucket.list(targetsSpace.prefix))]);
    const passed: ReplicaView[] = [];
    const unreadable: number[] = [];
    let waiting: PromotionResult['waiting'];
    let complete: ReplicaView | undefined;
    for (const version of candidates) {
      const stored = await bucket.read(replicaViewKey(version));
      if (!stored) continue; // listed, then expired
      let view: ReplicaView;
      try {
        view = parseReplicaView(stored.body);
      } catch {
        unreadable.push(version);
        continue;
      }
      const missing = await missingFromReplica(view, bucket, present);
      if (missing.length === 0) {
        complete = view;
        break;
      }
      passed.push(view);
      waiting ??= { timestampVersion: version, missing };
    }
    const outcome = { ...(waiting && { waiting }), waitingSeconds: waitedSeconds(passed, deps.now()), ...(unreadable.length > 0 && { unreadable }) };
    if (!complete) return { servedVersion, ...outcome };
    if (!(await bucket.putIfUnchanged(timestampKey, complete.timestamp, served?.etag))) continue;
    return { servedVersion: complete.timestampVersion, promoted: complete.timestampVersion, ...outcome };
  }
  throw new Error(`${timestampKey} kept changing under the promoter; the next run tries again`);
}

/** The served timestamp's version; one that cannot be read counts as none, so a complete view replaces it. */
function servedTimestampVersion(bytes: Buffer): number | undefined {
  try {
    return parseTimestamp(bytes).signed.version;
  } catch {
    return undefined;
  }
}

function waitedSeconds(views: readonly ReplicaView[], now: Date): number {
  const oldest = Math.min(...views.map((view) => Date.parse(view.writtenAt)));
  return Number.isFinite(oldest) ? Math.max(0, Math.round((now.getTime() - oldest) / 1000)) : 0;
}
