/**
 * One sync with the upstream (the service, or another mirror): what an agent does, for
 * every version agents here may be offered.
 *
 *  1. The lease: license, seats, blacklist and channels, with download grants per product.
 *  2. TUF refresh of the upstream metadata from the trusted root (the agent's code), each
 *     file fetched recorded byte for byte, since that is what agents here verify.
 *  3. The lease is checked against the refreshed root (the service's timestamp keys).
 *  4. For each entitled product, the versions to hold: each channel's head and previous
 *     version, and the newest `keep` ones (so agents a few versions behind still fetch only
 *     what changed). Each set manifest and file is verified against the signed targets
 *     before it is stored (the agent's verifySet and downloads, resumable), and so is each
 *     binary patch a held set manifest lists (held when it can be had: holdPatches).
 *  5. What is served switches over: the files first, then the metadata, then the index of
 *     served targets, then timestamp.json. Files no held version uses are removed.
 *  6. Agents' reports queued here go upstream.
 *
 * Nothing becomes visible unless all of it verified: a failed sync leaves the mirror
 * serving what it served before.
 */
import { cp, readdir, rm, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TargetFile } from 'tuf-js';
import { writeFileAtomic } from '#lib/files.ts';
import type { Grant } from '#lib/delivery/grant.ts';
import type { SignedLease } from '#lib/mirror/lease.ts';
import type { LeasePayload } from '#lib/mirror/lease.ts';
import { leaseOlderThanHeld, verifyLease } from '#lib/mirror/lease.ts';
import { consistentName } from '#lib/releases/set-manifest.ts';
import { versionsIn } from '#lib/releases/targets.ts';
import { parseRoot, parseTargets, parseTimestamp, rootChainBreak } from '#lib/tuf/metadata.ts';
import type { Root, Targets } from '@tufjs/models';
import type { DownloadStats, TargetSource } from '../agent/download.ts';
import { downloadMissing, downloadToStore } from '../agent/download.ts';
import { AgentError } from '../agent/errors.ts';
import { inStore, storeDir } from '../agent/file-store.ts';
import type { PatchSource } from '../agent/patch.ts';
import { listedPatches, signsPatch } from '../agent/patch.ts';
import type { HttpClient } from '../agent/http.ts';
import { answerError } from '../agent/http.ts';
import { withQuery } from '../agent/tuf-fetcher.ts';
import type { SetFile } from '../agent/verify.ts';
import { refreshMetadata, verifySet } from '../agent/verify.ts';
import type { MirrorLicensing, WithdrawingCode } from './licensing.ts';
import { sendReports } from './reports.ts';
import { WITHDRAWING_CODES } from './licensing.ts';
import type { MirrorConfig, Served, ServedTarget, SyncRecord } from './state.ts';
import { heldLease, paths, readServed } from './state.ts';
import { crashPoint } from './crash.ts';
import { MirrorError } from './errors.ts';
import { SYNC_STAGING, recoverView, switchView, viewProblem, writeVersionedMetadata } from './view.ts';

/** What the upstream answers a mirror's lease request with. */
export interface LeaseAnswer {
  readonly lease: SignedLease;
  readonly grants: Readonly<Record<string, Grant>>;
  readonly metadataUrl: string;
  readonly targetsUrl: string;
  readonly pollSeconds: number;
}

export interface SyncDeps {
  readonly dir: string;
  readonly config: MirrorConfig;
  readonly http: HttpClient;
  readonly licensing: MirrorLicensing;
  /** Versions held per product, besides the channels' (default 5). */
  readonly keep: number;
  /** Called with what is served once the switch is done. */
  readonly onServed: (served: Served) => void;
  readonly onProgress?: (info: { files: number; totalFiles: number; bytes: number; totalBytes: number }) => void;
}

export async function requestLease(http: HttpClient, upstream: string, config: MirrorConfig): Promise<LeaseAnswer> {
  if (!config.licenseKey) throw new AgentError('INVALID_REQUEST', 'the mirror has no license key: pass --license KEY');
  const answer = await http.api<LeaseAnswer>('POST', `${upstream}/v1/mirrors/lease`, { licenseKey: config.licenseKey, mirrorId: config.mirrorId, seats: config.seats });
  return answer.body;
}

function productSource(answer: LeaseAnswer, product: string, relet: () => Promise<LeaseAnswer>): TargetSource {
  let grant = answer.grants[product]?.query ?? '';
  return {
    url: async (name) => withQuery(`${answer.targetsUrl}${name}`, grant),
    // A grant that ran out during a long first sync: the same lease again (no seat moves) brings new grants.
    renew: async () => {
      grant = (await relet()).grants[product]?.query ?? '';
    },
  };
}

/** The versions of `product` to hold: the channels' heads and previous versions, and the newest `keep`. */
export function versionsToHold(lease: SignedLease['signed'], all: ReadonlyArray<{ version: string; path: string }>, product: string, keep: number): Array<{ version: string; path: string }> {
  const wanted = new Set(all.slice(0, keep).map((v) => v.version));
  for (const channel of lease.channels) {
    if (channel.product !== product) continue;
    wanted.add(channel.version);
    if (channel.previousVersion) wanted.add(channel.previousVersion);
  }
  return all.filter((v) => wanted.has(v.version));
}

/** How far apart the clocks of the service's regions may be when a sync compares leases. */
const LEASE_CLOCK_TOLERANCE_MS = 5 * 60_000;

export async function syncOnce(deps: SyncDeps): Promise<SyncRecord> {
  const { dir, config, http } = deps;
  const upstream = config.upstream;
  if (!upstream) throw new MirrorError('the mirror has no upstream: it serves what is imported');
  await recoverView(dir);
  const answer = await requestLease(http, upstream, config).catch(async (error: unknown) => {
    if (error instanceof AgentError && (WITHDRAWING_CODES as readonly string[]).includes(error.code)) await deps.licensing.withdraw(error.code as WithdrawingCode, new Date());
    throw error;
  });

  // TUF: the agent's refresh, into a copy of the trusted metadata: it becomes the mirror's
  // only with the switch, once every file it names is here (docs/mirror.md, "Crashes").
  const staging = join(dir, SYNC_STAGING);
  const tuf = join(staging, 'tuf');
  await rm(staging, { recursive: true, force: true });
  await cp(paths(dir).tuf, tuf, { recursive: true });
  const targetInfo = await refreshMetadata(staging, http, answer, { targetsUrl: answer.targetsUrl, query: async () => '' });
  crashPoint('sync:refreshed');
  const root = parseRoot(await readFile(join(tuf, 'root.json'))).signed;
  const lease = await acceptedLease(dir, config, answer.lease, root);

  const trusted = parseTargets(await readFile(join(tuf, 'targets.json'))).signed;
  const stats: DownloadStats = { files: 0, bytes: 0, resumed: 0 };
  const held = await holdVersions(deps, answer, lease, trusted, targetInfo, stats);
  crashPoint('sync:downloaded');

  // The switch: versioned metadata (immutable names) first, then tuf/, the index, the lease
  // and timestamp.json as one step that a crash cannot leave half done.
  await writeVersionedMetadata(dir, tuf);
  await fillEarlierRoots(dir, http, answer.metadataUrl, tuf);
  const previous = await readServed(dir);
  const timestamp = await readFile(join(tuf, 'timestamp.json'));
  const served: Served = { ...held, snapshotVersion: parseTimestamp(timestamp).signed.snapshotMeta.version, at: new Date().toISOString() };
  // The lease was granted: the license serves again (applied with the switch).
  await deps.licensing.reinstate();
  await switchView(dir, { tuf, served, lease: answer.lease, timestamp }, () => {
    deps.licensing.apply(lease, served);
    deps.onServed(served);
  });
  await rm(staging, { recursive: true, force: true });
  await removeUnserved(dir, served);
  const problem = await viewProblem(dir, served);
  if (problem) throw new MirrorError(`the view this sync switched to cannot be served: ${problem}`);
  // Reports that cannot go now wait for the next sync; the content is what counts here.
  const reportsError = await sendReports(dir, http, upstream, config).then(
    () => undefined,
    (error: unknown) => (error instanceof Error ? error.message : String(error)),
  );
  const changed = previous?.snapshotVersion !== served.snapshotVersion || stats.files > 0;
  return {
    at: new Date().toISOString(),
    result: changed ? 'ok' : 'up-to-date',
    snapshotVersion: served.snapshotVersion,
    downloadedBytes: stats.bytes,
    lastSuccessAt: new Date().toISOString(),
    ...(reportsError && { detail: `reports not sent yet: ${reportsError}` }),
  };
}

/** The upstream's lease, if the refreshed root vouches for it and it is no older than the one held. */
async function acceptedLease(dir: string, config: MirrorConfig, lease: SignedLease, root: Root): Promise<LeasePayload> {
  const verdict = verifyLease(lease, root, { mirrorId: config.mirrorId, ...(config.licenseId && { licenseId: config.licenseId }), now: new Date() });
  if (!verdict.ok) throw new AgentError('VERIFICATION_FAILED', `the upstream's lease is refused: ${verdict.reason}`);
  const older = leaseOlderThanHeld(verdict.lease, await heldLease(dir), LEASE_CLOCK_TOLERANCE_MS);
  if (older) throw new AgentError('VERIFICATION_FAILED', `the upstream's lease is refused: ${older}`);
  return verdict.lease;
}

/** For each entitled product, the versions to hold, verified and downloaded into the store. */
async function holdVersions(deps: SyncDeps, answer: LeaseAnswer, lease: LeasePayload, trusted: Targets, targetInfo: (path: string) => Promise<TargetFile>, stats: DownloadStats): Promise<Pick<Served, 'targets' | 'versions'>> {
  const { dir, http, config } = deps;
  const targets: Record<string, ServedTarget> = {};
  const versions: Record<string, Record<string, string>> = {};
  for (const product of lease.products) {
    const source = productSource(answer, product, () => requestLease(http, config.upstream ?? '', config));
    for (const { version, path } of versionsToHold(lease, versionsIn(trusted, product), product, deps.keep)) {
      const set = await verifySet(dir, http, source, { product, version, setManifest: path }, targetInfo);
      const setInfo: TargetFile = await targetInfo(path);
      targets[consistentName(path, set.sha256)] = { sha256: set.sha256, length: setInfo.length };
      for (const file of set.files) targets[consistentName(file.target, file.sha256)] = { sha256: file.sha256, length: file.length };
      await downloadMissing(dir, http, source, set.targets, stats, deps.onProgress);
      await holdPatches({ dir, http, source, product, targetInfo }, set.files, stats, targets);
      (versions[product] ??= {})[version] = path;
    }
  }
  return { targets, versions };
}

/**
 * The binary patches a held set manifest lists (docs/agent-protocol.md, step 5a), held and
 * served like its files, so agents here download a patch rather than the whole file.
 * Unlike a file, a patch that is not signed as listed or cannot be fetched (an upstream
 * mirror of a version without patches answers 404) is left out, not a failed sync: an
 * agent then fetches the whole file, which this mirror holds.
 */
async function holdPatches({ dir, http, source, product, targetInfo }: PatchSource, files: readonly SetFile[], stats: DownloadStats, targets: Record<string, ServedTarget>): Promise<void> {
  for (const patch of files.flatMap((f) => listedPatches(f))) {
    const name = consistentName(patch.target, patch.sha256);
    if (targets[name]) continue;
    try {
      const info = await targetInfo(patch.target).catch(() => undefined);
      if (!signsPatch(info, product, patch)) continue;
      if (!(await inStore(dir, patch.sha256, patch.length))) await downloadToStore(dir, http, source, info, stats);
      targets[name] = { sha256: patch.sha256, length: patch.length };
    } catch (error) {
      if (error instanceof AgentError && error.code === 'ABORTED') throw error;
    }
  }
}

/**
 * The root versions before the one this mirror trusts, for agents installed with an older
 * one (their refresh walks 2.root.json, 3.root.json, ... up to the current). Fetched
 * once, and kept only if they chain, signature by signature, to the trusted root: version
 * N+1 signed by the root keys of N and by its own.
 */
async function fillEarlierRoots(dir: string, http: HttpClient, metadataUrl: string, tuf: string): Promise<void> {
  const trustedBytes = await readFile(join(tuf, 'root.json'));
  const trusted = parseRoot(trustedBytes);
  // Root versions are immutable once signed: each is fetched once.
  const top = trusted.signed.version;
  const file = (n: number) => join(paths(dir).metadata, `${n}.root.json`);
  const have = await Promise.all(Array.from({ length: top }, (_, i) => readFile(file(i + 1)).catch(() => undefined)));
  if (have.every(Boolean)) return;
  const chain: Buffer[] = [];
  for (let n = 1; n < top; n++) {
    const bytes = have[n - 1] ?? (await fetchBytes(http, `${metadataUrl}${n}.root.json`));
    chain.push(bytes);
  }
  chain.push(trustedBytes);
  const broken = rootChainBreak(chain.map((bytes) => parseRoot(bytes)));
  if (broken !== undefined) throw new AgentError('VERIFICATION_FAILED', `the upstream's ${broken}.root.json does not chain to the trusted root`);
  for (const [i, bytes] of chain.entries()) if (!have[i]) await writeFileAtomic(file(i + 1), bytes, 0o644);
}

async function fetchBytes(http: HttpClient, url: string): Promise<Buffer> {
  const response = await http.send(url);
  if (!response.ok) throw answerError(response, await response.text(), url);
  return Buffer.from(await response.arrayBuffer());
}

/** Store files that no served target names (older versions that fell out), and stale partial downloads. */
async function removeUnserved(dir: string, served: Served): Promise<void> {
  const keep = new Set(Object.values(served.targets).map((t) => t.sha256));
  for (const name of await readdir(storeDir(dir))) {
    const sha = name.replace(/\.partial$/, '');
    if (!keep.has(sha)) await rm(join(storeDir(dir), name), { force: true });
  }
}
