/**
 * The service side of the signed repository: accepting a new root, committing a
 * release whose targets metadata CI signed, and keeping timestamp.json fresh. The
 * service signs snapshot and timestamp with its online keys; it never holds the
 * targets key, so it cannot change what a release contains.
 *
 * Commit order makes a release visible all at once or not at all:
 *   1. the new targets and snapshot metadata under unique staging keys: two publishers
 *      racing for the same version number cannot overwrite each other's files;
 *   2. the DynamoDB transaction moving the repository state, naming the staged files
 *      (the commit point: only one of the racers gets here);
 *   3. the staged files copied to their final names (N.targets.json, M.snapshot.json),
 *      then timestamp.json pointing at M (what clients poll). A crash anywhere in 3 is
 *      healed by the next timestamp refresh, or by running the publish again.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Metadata, Root, Targets, Timestamp } from '@tufjs/models';
import type { AuditEntry } from '#lib/audit.ts';
import type { ObjectStore } from '#lib/aws/objects.ts';
import { mapLimit } from '#lib/concurrency.ts';
import { metadataSpace, stagingPrefix } from '#lib/definitions/bucket.ts';
import { Conflict, Forbidden, InvalidRequest, RepositoryMovedOn, Unavailable } from '#lib/errors.ts';
import type { Signer } from '#lib/tuf/signer.ts';
import type { ExpiringMetadata, SignedMetadataExpiry } from './expiry.ts';
import { expiringSoon, snapshotDueForRenewal } from './expiry.ts';
import { EXPIRY_DAYS, newSnapshot, newTimestamp, parseRoot, parseSnapshot, parseTargets, parseTimestamp, signMetadata, toBytes, verifyRole } from '#lib/tuf/metadata.ts';
import { encodeReplicaView, replicaViewKey } from './replication.ts';
import { parseSetManifest, targetObjectKey } from './set-manifest.ts';
import type { Release, ReleaseStore, RepositoryState } from './store.ts';
import { customOf } from './targets.ts';
import { compareVersions, isVersion } from './versions.ts';

export interface RepositoryDeps {
  readonly store: ReleaseStore;
  readonly objects: ObjectStore;
  readonly signers: { readonly snapshot: Signer; readonly timestamp: Signer };
  readonly now: () => Date;
  /** How long a signed timestamp.json is valid. */
  readonly timestampExpiryHours: number;
  /**
   * The deployment has replica regions: every timestamp.json written is also written as a
   * replica view, which S3 replication carries to them (lib/releases/replication.ts).
   * @default false
   */
  readonly replicaViews?: boolean;
}

/** What refreshing the timestamp alone needs: the timestamp key only. */
export type TimestampDeps = Omit<RepositoryDeps, 'signers'> & { readonly signers: Pick<RepositoryDeps['signers'], 'timestamp'> };

const metadataKey = (name: string) => `${metadataSpace.prefix}${name}`;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/**
 * What was read of one role's metadata, by version, per bucket (its objects): a committed
 * version never changes once written.
 */
function versionCache<T>(): (objects: ObjectStore, version: number, read: () => Promise<T>) => Promise<T> {
  const caches = new WeakMap<ObjectStore, Map<number, T>>();
  return async (objects, version, read) => {
    let cache = caches.get(objects);
    if (!cache) caches.set(objects, (cache = new Map()));
    const cached = cache.get(version);
    if (cached !== undefined) return cached;
    const value = await read();
    cache.set(version, value);
    return value;
  };
}

const cachedRoot = versionCache<Root>();
const cachedTargetsExpiry = versionCache<string>();

/** The committed targets metadata of `state`: under its final name, or still staged. */
export async function committedTargets(objects: ObjectStore, state: RepositoryState): Promise<Buffer | undefined> {
  if (state.targetsVersion === 0) return undefined;
  const bytes = (state.staged?.targets ? await objects.get(state.staged.targets) : undefined) ?? (await objects.get(metadataKey(`${state.targetsVersion}.targets.json`)));
  if (!bytes) throw new Unavailable(`targets version ${state.targetsVersion} is missing from the bucket`, 30);
  return bytes;
}

export async function loadRoot(objects: ObjectStore, version: number): Promise<Root> {
  return cachedRoot(objects, version, async () => {
    const bytes = await objects.get(metadataKey(`${version}.root.json`));
    if (!bytes) throw new Unavailable(`root version ${version} is missing from the bucket`, 30);
    return parseRoot(bytes).signed;
  });
}

/** When the root and the targets metadata of `state` expire (read once per version and bucket). */
async function signedExpiries(objects: ObjectStore, state: RepositoryState): Promise<SignedMetadataExpiry[]> {
  const root: SignedMetadataExpiry = { role: 'root', version: state.rootVersion, expires: (await loadRoot(objects, state.rootVersion)).expires };
  const expires = await cachedTargetsExpiry(objects, state.targetsVersion, async () => {
    const bytes = await committedTargets(objects, state);
    return bytes ? parseTargets(bytes).signed.expires : '';
  });
  return expires ? [root, { role: 'targets', version: state.targetsVersion, expires }] : [root];
}

function requireInitialized(state: RepositoryState | undefined): RepositoryState {
  if (!state) throw new Conflict('the repository has no root yet: run signet keys init and upload the root first');
  return state;
}

/** Accepts root N+1 signed by the thresholds of both root N and root N+1 (or a self-signed root 1). */
export async function putRoot(deps: RepositoryDeps, rootJson: unknown, actor: string): Promise<{ rootVersion: number }> {
  let metadata: Metadata<Root>;
  try {
    metadata = parseRoot(JSON.stringify(rootJson));
  } catch (error) {
    throw new InvalidRequest('root', `not TUF root metadata (${error instanceof Error ? error.message : 'unreadable'})`);
  }
  const state = await deps.store.repositoryState();
  const expectedVersion = (state?.rootVersion ?? 0) + 1;
  if (metadata.signed.version !== expectedVersion) {
    if (state && metadata.signed.version === state.rootVersion) {
      const current = await deps.objects.get(metadataKey(`${state.rootVersion}.root.json`));
      if (current && current.equals(toBytes(metadata))) return { rootVersion: state.rootVersion }; // a re-run
    }
    throw new Conflict(`root: expected version ${expectedVersion}, got ${metadata.signed.version}`);
  }
  if (!metadata.signed.consistentSnapshot) throw new InvalidRequest('root', 'consistent_snapshot must be true');
  if (state && !verifyRole(await loadRoot(deps.objects, state.rootVersion), 'root', metadata)) {
    throw new Forbidden('root: not signed by the current root keys');
  }
  if (!verifyRole(metadata.signed, 'root', metadata)) throw new Forbidden('root: not signed by its own root keys');
  for (const role of ['snapshot', 'timestamp'] as const) {
    if (!metadata.signed.roles[role]?.keyIDs.includes(deps.signers[role].key.keyID)) {
      throw new Conflict(`root: the service's online ${role} key ${deps.signers[role].key.keyID} is not a ${role} key of this root`);
    }
  }
  await deps.objects.put(metadataKey(`${metadata.signed.version}.root.json`), toBytes(metadata));
  const now = deps.now();
  const next: RepositoryState = {
    rootVersion: metadata.signed.version,
    targetsVersion: state?.targetsVersion ?? 0,
    snapshotVersion: state?.snapshotVersion ?? 0,
    timestampVersion: state?.timestampVersion ?? 0,
    ...(state?.staged && { staged: state.staged }),
    revision: (state?.revision ?? 0) + 1,
    updatedAt: now.toISOString(),
  };
  if (!(await deps.store.commit({ expected: state, next, audit: { actor, action: 'repository.root', subject: `root v${next.rootVersion}` }, now }))) {
    throw new Conflict('the repository changed meanwhile; upload the root again');
  }
  return { rootVersion: next.rootVersion };
}

export interface CommitRequest {
  readonly product: string;
  readonly version: string;
  readonly targets: unknown;
}

export interface CommitResult {
  readonly release: Release;
  readonly alreadyPublished: boolean;
  readonly snapshotVersion: number;
}

/** Commits a release: checks, writes the new metadata, moves the repository state, writes timestamp.json. */
export async function commitRelease(deps: RepositoryDeps, request: CommitRequest, actor: string): Promise<CommitResult> {
  const { product, version } = request;
  if (!isVersion(version)) throw new InvalidRequest('version', 'must be 1 to 4 dot-separated whole numbers, e.g. 1.2.3');
  let targets: Metadata<Targets>;
  try {
    targets = parseTargets(JSON.stringify(request.targets));
  } catch (error) {
    throw new InvalidRequest('targets', `not TUF targets metadata (${error instanceof Error ? error.message : 'unreadable'})`);
  }
  const state = requireInitialized(await deps.store.repositoryState());
  const root = await loadRoot(deps.objects, state.rootVersion);
  if (!verifyRole(root, 'targets', targets)) throw new Forbidden('targets: not signed by the targets key(s) of the current root');
  const now = deps.now();
  if (targets.signed.isExpired(now)) throw new InvalidRequest('targets', 'already expired');

  const set = Object.values(targets.signed.targets).find((t) => {
    const custom = customOf(t);
    return custom?.kind === 'set' && custom.product === product && custom.version === version;
  });
  if (!set) throw new InvalidRequest('targets', `no set manifest for ${product} ${version}`);
  const setSha = set.hashes.sha256 ?? '';

  const existing = await deps.store.release(product, version);
  if (existing) {
    if (existing.setManifestSha256 === setSha) {
      // A re-run after a crash past the commit point: finish making it visible.
      const timestamp = await deps.objects.get(metadataKey('timestamp.json'));
      if (state.staged || !timestamp || parseTimestamp(timestamp).signed.snapshotMeta.version < state.snapshotVersion) await refreshTimestamp(deps);
      return { release: existing, alreadyPublished: true, snapshotVersion: state.snapshotVersion };
    }
    throw new Conflict(`${product} ${version} is already published with other content: versions are immutable, publish a higher one`);
  }
  const latest = await deps.store.latestRelease(product);
  if (latest && compareVersions(version, latest.version) <= 0) {
    throw new Conflict(`${product} ${version} is not above the latest published version ${latest.version}: versions only go up`);
  }
  if (targets.signed.version !== state.targetsVersion + 1) {
    throw new RepositoryMovedOn(`targets: version ${targets.signed.version} does not follow the repository's ${state.targetsVersion}; the repository moved on, build on the current one`);
  }

  // Everything the new targets add must already be in the bucket, and the set manifest must say what it claims.
  const previous = await committedTargets(deps.objects, state);
  const previousPaths = new Set(previous ? Object.keys(parseTargets(previous).signed.targets) : []);
  const added = Object.values(targets.signed.targets).filter((t) => !previousPaths.has(t.path));
  const missing = (await mapLimit(added, 16, async (t) => ((await deps.objects.exists(targetObjectKey(t.path, t.hashes.sha256 ?? ''))) ? undefined : t.path))).filter(Boolean);
  if (missing.length > 0) throw new Conflict(`targets not uploaded yet: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`);
  const manifestBytes = await deps.objects.get(targetObjectKey(set.path, setSha));
  if (!manifestBytes || sha256(manifestBytes) !== setSha || manifestBytes.length !== set.length) {
    throw new Conflict(`the set manifest ${set.path} in the bucket does not match its targets entry`);
  }
  const manifest = parseSetManifest(manifestBytes);
  if (manifest.product !== product || manifest.version !== version) throw new InvalidRequest('targets', 'the set manifest names another product or version');
  for (const file of manifest.files) {
    const entry = targets.signed.targets[file.target];
    if (!entry || entry.hashes.sha256 !== file.sha256 || entry.length !== file.length) {
      throw new InvalidRequest('targets', `the set manifest lists ${file.target}, which the targets metadata does not vouch for`);
    }
    for (const patch of file.patches ?? []) {
      const patchEntry = targets.signed.targets[patch.target];
      if (!patchEntry || patchEntry.hashes.sha256 !== patch.sha256 || patchEntry.length !== patch.length || customOf(patchEntry)?.kind !== 'patch' || patch.result?.sha256 !== file.sha256) {
        throw new InvalidRequest('targets', `the set manifest lists the patch ${patch.target}, which the targets metadata does not vouch for`);
      }
    }
  }

  // 1. New metadata under unique names: invisible, and safe from a racing publisher.
  const snapshotVersion = state.snapshotVersion + 1;
  const stage = randomUUID();
  const staged = { targets: `${stagingPrefix}${stage}.targets.json`, snapshot: `${stagingPrefix}${stage}.snapshot.json` };
  await deps.objects.put(staged.targets, toBytes(targets));
  const snapshot = await signMetadata(newSnapshot(targets.signed.version, snapshotVersion, now), [deps.signers.snapshot]);
  await deps.objects.put(staged.snapshot, toBytes(snapshot));

  // 2. The commit point.
  const release: Release = { product, version, setManifestPath: set.path, setManifestSha256: setSha, targetsVersion: targets.signed.version, files: manifest.files.length, publishedAt: now.toISOString(), publishedBy: actor };
  const next: RepositoryState = { ...state, targetsVersion: targets.signed.version, snapshotVersion, staged, revision: state.revision + 1, updatedAt: now.toISOString() };
  const committed = await deps.store.commit({ expected: state, next, release, audit: { actor, action: 'release.publish', subject: `${product} ${version}`, detail: { targetsVersion: next.targetsVersion, files: release.files } }, now });
  if (!committed) throw new RepositoryMovedOn('the repository moved on while this release was committed; build on the current one');

  // 3. Final names, then visible.
  await refreshTimestamp(deps);
  return { release, alreadyPublished: false, snapshotVersion };
}

/**
 * A new snapshot over the same targets, and a timestamp naming it: moves the version
 * agents watch (the snapshot version in timestamp.json) for a change that lives in the
 * table only, a rollout widened, halted or rolled back, or for a snapshot near its expiry.
 * Agents then ask for a manifest at their next poll; the hourly re-sign alone never moves it.
 *
 * `from`: move only a snapshot still at that version. For a snapshot replaced because it
 * expires too soon: any newer one was signed later and answers the same need, so of two
 * refreshes racing to replace it only one moves it. Undefined when nothing moved.
 */
export async function moveSnapshot(deps: RepositoryDeps, options: { readonly from?: number } = {}): Promise<{ snapshotVersion: number } | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const state = await deps.store.repositoryState();
    if (!state || state.snapshotVersion === 0) return undefined; // nothing published: nothing to watch yet
    if (options.from !== undefined && state.snapshotVersion !== options.from) return undefined; // replaced meanwhile
    if (state.staged) {
      // A commit not yet copied to its final names: finish it first, so no version is skipped.
      await refreshTimestamp(deps);
      continue;
    }
    const now = deps.now();
    const snapshotVersion = state.snapshotVersion + 1;
    const staged = { snapshot: `${stagingPrefix}${randomUUID()}.snapshot.json` };
    const snapshot = await signMetadata(newSnapshot(state.targetsVersion, snapshotVersion, now), [deps.signers.snapshot]);
    await deps.objects.put(staged.snapshot, toBytes(snapshot));
    const next: RepositoryState = { ...state, snapshotVersion, staged, revision: state.revision + 1, updatedAt: now.toISOString() };
    if (!(await deps.store.commit({ expected: state, next, now }))) continue;
    await refreshTimestamp(deps);
    return { snapshotVersion };
  }
  throw new Unavailable('the repository is too busy to move its snapshot, retry later', 5);
}

/**
 * Writes a new timestamp.json for the current snapshot. Runs after each commit (and, as
 * part of refreshRepository, on a schedule) so the timestamp never expires; concurrent
 * writers converge: each writes the state it committed, then checks that nobody committed
 * a newer one after it.
 */
export async function refreshTimestamp(deps: TimestampDeps): Promise<{ timestampVersion: number } | undefined> {
  const signed = await commitTimestamp(deps, { days: deps.timestampExpiryHours / 24, publish: true });
  return signed && { timestampVersion: signed.timestampVersion };
}

export interface RepositoryRefresh {
  readonly timestampVersion: number;
  /** The snapshot the new timestamp names. */
  readonly snapshotVersion: number;
  /** The version of the snapshot this refresh signed because the previous one neared its expiry. */
  readonly snapshotRenewed?: number;
  /** Why renewing a snapshot that needed it failed; the timestamp was refreshed all the same. */
  readonly renewalFailure?: unknown;
  /** Targets and root metadata that expire within EXPIRY_WARNING_DAYS: only CI or the offline root keys can extend them. */
  readonly expiring: readonly ExpiringMetadata[];
}

/**
 * The scheduled upkeep of the repository: a new timestamp.json (refreshTimestamp), after
 * a new snapshot over the same targets when the current one nears its expiry
 * (snapshotDueForRenewal; moveSnapshot from that version, through the same commit loop,
 * so a publish or rollout change racing it is decided by the state's revision as always).
 * If the renewal fails, the timestamp is still refreshed for the current snapshot, which
 * has days left, and the failure is returned for the caller to raise. Also reports the
 * targets and root metadata expiring soon.
 */
export async function refreshRepository(deps: RepositoryDeps): Promise<RepositoryRefresh | undefined> {
  let basis: RepositoryState | undefined;
  let renewalTried = false;
  let renewed: number | undefined;
  let renewalFailure: unknown;
  const signed = await commitTimestamp(deps, {
    days: deps.timestampExpiryHours / 24,
    publish: true,
    async holds(state, snapshotBytes, expires) {
      basis = state;
      // One try per run: whatever snapshot is current after it was signed no earlier than
      // that try (or it failed, and the current one still has days left). Without the
      // bound, a timestamp lifetime close to the snapshot's would renew until the loop gave up.
      if (renewalTried || !snapshotDueForRenewal(parseSnapshot(snapshotBytes).signed.expires, deps.now(), expires)) return true;
      renewalTried = true;
      try {
        renewed = (await moveSnapshot(deps, { from: state.snapshotVersion }))?.snapshotVersion;
      } catch (error) {
        renewalFailure = error ?? new Error('snapshot renewal failed');
      }
      return false;
    },
  });
  if (!signed || !basis) return undefined;
  return {
    timestampVersion: signed.timestampVersion,
    snapshotVersion: signed.snapshotVersion,
    ...(renewed !== undefined && { snapshotRenewed: renewed }),
    ...(renewalFailure !== undefined && { renewalFailure }),
    expiring: expiringSoon(await signedExpiries(deps.objects, basis), deps.now()),
  };
}

export interface OfflineTimestamp {
  /** The TUF timestamp metadata, as timestamp.json would hold it. */
  readonly timestamp: Metadata<Timestamp>;
  readonly snapshotVersion: number;
  readonly timestampVersion: number;
  /** When it expires, as in its `expires` (TUF form, whole seconds). */
  readonly expires: string;
}

/**
 * A timestamp for the current snapshot valid `validDays`, for a bundle carried into an
 * isolated segment (a mirror's offline bundle), or until `notAfter` if that is sooner. Its version is committed in the
 * repository state like any other (so no version is ever signed twice, and the next
 * timestamp.json is newer), but it is not written to the bucket: online agents keep the
 * regularly refreshed one. The chain under it must hold as long: a snapshot expiring
 * sooner is replaced first (moveSnapshot); targets or a root expiring sooner are refused
 * (CONFLICT), since only a publish or a new root, signed offline, can extend them.
 */
export async function offlineTimestamp(deps: RepositoryDeps, validDays: number, options: { readonly audit?: AuditEntry; readonly notAfter?: Date } = {}): Promise<OfflineTimestamp> {
  const { audit, notAfter } = options;
  if (!Number.isInteger(validDays) || validDays < 1 || validDays > EXPIRY_DAYS.snapshot) {
    throw new InvalidRequest('validDays', `must be a whole number from 1 to ${EXPIRY_DAYS.snapshot} (a snapshot's lifetime)`);
  }
  // One instant for the whole call: a snapshot moved here expires exactly when a timestamp of
  // EXPIRY_DAYS.snapshot days signed here does, never a second before.
  const at = deps.now();
  const fixed: RepositoryDeps = { ...deps, now: () => at };
  const signed = await commitTimestamp(fixed, {
    days: validDays,
    ...(notAfter && { notAfter }),
    publish: false,
    ...(audit && { audit }),
    async holds(state, snapshotBytes, expires) {
      const until = Date.parse(expires);
      const root = await loadRoot(deps.objects, state.rootVersion);
      if (Date.parse(root.expires) < until) {
        throw new Conflict(`root version ${state.rootVersion} expires at ${root.expires}, before the ${validDays} days asked for: sign a new root first, or ask for fewer days`);
      }
      const targetsBytes = await committedTargets(deps.objects, state);
      const targets = targetsBytes && parseTargets(targetsBytes).signed;
      if (targets && Date.parse(targets.expires) < until) {
        throw new Conflict(`targets version ${state.targetsVersion} expires at ${targets.expires}, before the ${validDays} days asked for: publish again (new targets metadata), or ask for fewer days`);
      }
      if (Date.parse(parseSnapshot(snapshotBytes).signed.expires) < until) {
        await moveSnapshot(fixed, { from: state.snapshotVersion });
        return false;
      }
      return true;
    },
  });
  if (!signed) throw new Conflict('nothing is published yet: there is no snapshot to name');
  return { timestamp: signed.timestamp, snapshotVersion: signed.snapshotVersion, timestampVersion: signed.timestampVersion, expires: signed.timestamp.signed.expires };
}

interface TimestampPlan {
  /** How long the timestamp is valid, in days from now. */
  readonly days: number;
  /** It expires then at the latest (an offline timestamp never outlives the license it was asked under). */
  readonly notAfter?: Date;
  /** Write it to timestamp.json (the online one), or only commit its version (an offline one). */
  readonly publish: boolean;
  readonly audit?: AuditEntry;
  /** Before signing: whether the state's chain holds until `expires`; false: something was changed, start over. May refuse. */
  holds?(state: RepositoryState, snapshotBytes: Buffer, expires: string): Promise<boolean>;
}

/**
 * The one commit loop of a timestamp: read the state, finish a commit's copies, sign
 * version + 1 for its snapshot, commit that version (the repository state's revision
 * decides between racers), and, for the online one, write timestamp.json.
 */
async function commitTimestamp(deps: TimestampDeps, plan: TimestampPlan): Promise<{ timestamp: Metadata<Timestamp>; snapshotVersion: number; timestampVersion: number } | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const state = await deps.store.repositoryState();
    if (!state || state.snapshotVersion === 0) return undefined; // nothing published yet
    const now = deps.now();
    let snapshotBytes: Buffer | undefined;
    if (state.staged) {
      if (!plan.publish) {
        // A commit not yet copied to its final names: make it visible online first (an
        // offline timestamp alone would leave timestamp.json behind the committed state).
        await refreshTimestamp(deps);
        continue;
      }
      // Finish the commit that named staged files: copy them to their final, immutable names
      // (only where missing: a copy is never rewritten under a reader), and hash the
      // snapshot from its staged source of truth.
      const copies = [
        ...(state.staged.targets ? [[state.staged.targets, `${state.targetsVersion}.targets.json`] as const] : []),
        [state.staged.snapshot, `${state.snapshotVersion}.snapshot.json`] as const,
      ];
      for (const [from, to] of copies) {
        const bytes = await deps.objects.get(from);
        if (!bytes) {
          if (!(await deps.objects.exists(metadataKey(to)))) throw new Error(`staged ${from} is gone and ${to} was never written`);
          continue;
        }
        if (!(await deps.objects.exists(metadataKey(to)))) await deps.objects.put(metadataKey(to), bytes);
        if (from === state.staged.snapshot) snapshotBytes = bytes;
      }
    }
    snapshotBytes ??= await deps.objects.get(metadataKey(`${state.snapshotVersion}.snapshot.json`));
    if (!snapshotBytes) throw new Error(`snapshot ${state.snapshotVersion} is missing from the bucket`);
    const draft = newTimestamp(snapshotBytes, state.snapshotVersion, state.timestampVersion + 1, now, plan.days, plan.notAfter);
    if (plan.holds && !(await plan.holds(state, snapshotBytes, draft.signed.expires))) continue;
    const timestamp = await signMetadata(draft, [deps.signers.timestamp]);
    const { staged: _copied, ...rest } = state;
    const next: RepositoryState = { ...rest, timestampVersion: state.timestampVersion + 1, revision: state.revision + 1, updatedAt: now.toISOString() };
    if (!(await deps.store.commit({ expected: state, next, ...(plan.audit && { audit: plan.audit }), now }))) continue;
    const signed = { timestamp, snapshotVersion: state.snapshotVersion, timestampVersion: next.timestampVersion };
    if (!plan.publish) return signed;
    await deps.objects.put(metadataKey('timestamp.json'), toBytes(timestamp));
    if (deps.replicaViews) {
      const view = { timestampVersion: next.timestampVersion, rootVersion: state.rootVersion, writtenAt: now.toISOString(), timestamp: toBytes(timestamp) };
      await deps.objects.put(replicaViewKey(view.timestampVersion), encodeReplicaView(view));
    }
    const after = await deps.store.repositoryState();
    if (after && after.revision !== next.revision && after.timestampVersion > next.timestampVersion) {
      // A newer timestamp was committed meanwhile; its writer may have written before us. Write ours anew.
      continue;
    }
    return signed;
  }
  throw new Unavailable('the repository is too busy to refresh its timestamp, retry later', 5);
}
