/**
 * `update()`: one pass through steps 2 to 6 of docs/agent-protocol.md. Poll
 * timestamp.json; only when the snapshot it names moved since the last success (or
 * nothing is installed) ask for the manifest; verify with TUF; download what the store lacks; switch `current`
 * atomically; write the state; remove what the new set does not use; report. A crash
 * anywhere in the last four is finished by the next update (agent/reconcile.ts).
 */
import { join, resolve } from 'node:path';
import type { AgentOptions } from './client.ts';
import type { DownloadStats } from './download.ts';
import { downloadMissing } from './download.ts';
import { AgentError, DISK_CODES, diskError, diskFailureOf } from './errors.ts';
import { inStore } from './file-store.ts';
import { Offer, offersInstalled, refuseRollback, requestManifest } from './manifest.ts';
import type { PatchStats } from './patch.ts';
import { patchMissing } from './patch.ts';
import type { Poll } from './poll.ts';
import { poll } from './poll.ts';
import { finishInstall, finishPending, reconcile } from './reconcile.ts';
import { report } from './report.ts';
import type { Session } from './session.ts';
import { openSession } from './session.ts';
import { now, statePath, updateState } from './state.ts';
import { assembleSet, removePartials, switchCurrent } from './switch.ts';
import { crashPoint } from './test-hooks.ts';
import { withQuery } from './tuf-fetcher.ts';
import { refreshMetadata, verifySet } from './verify.ts';

export interface UpdateOptions extends AgentOptions {
  /** Run even though an earlier answer stopped updates, and ask for the manifest even if timestamp.json did not change. */
  readonly force?: boolean;
  /** false: download changed files whole, never from a binary patch (what an agent without patch support does). Default true. */
  readonly patches?: boolean;
  /** Files larger than this are downloaded whole, not patched: applying holds about 5x the file in memory. Default 128 MiB (agent/patch.ts). */
  readonly patchMaxFileBytes?: number;
}

export type UpdateResult =
  | { readonly result: 'up-to-date'; readonly version?: string; readonly manifestRequested: boolean }
  | {
      readonly result: 'installed';
      readonly version: string;
      readonly previousVersion?: string;
      readonly files: number;
      /** Files already in the store (unchanged since an earlier version): not downloaded. */
      readonly reusedFiles: number;
      /** Files rebuilt from a binary patch and an earlier version's file (step 5a): not downloaded. */
      readonly patchedFiles: number;
      /** Bytes of patches received. */
      readonly patchBytes: number;
      /** Why a patch was given up and the file downloaded whole, one line per file. */
      readonly patchFallbacks: readonly string[];
      readonly downloadedFiles: number;
      /** Bytes of the listed files received (the set manifest's are apart). */
      readonly downloadedBytes: number;
      readonly setManifestBytes: number;
      readonly resumedDownloads: number;
      /** Wall time of the file downloads (fetch, hash, write, fsync, verify), ms: downloadedBytes / downloadMs is the download throughput. */
      readonly downloadMs: number;
      readonly path: string;
    };

/** The snapshot version to remember after a success; none when the poll could not trust the timestamp. */
function snapshotSeen(polled: Poll): { lastSnapshotVersion?: number } {
  return polled.snapshotVersion === undefined ? {} : { lastSnapshotVersion: polled.snapshotVersion };
}

/**
 * One update: timestamp.json first, the manifest only when it changed since the last
 * success (or nothing is installed), then TUF-verified download of what the store lacks,
 * an atomic switch, and a report. A write the disk refused, wherever it happened, ends
 * it with one line that names the path (NO_SPACE, DISK_WRITE_FAILED: agent/errors.ts).
 */
export async function update(options: UpdateOptions): Promise<UpdateResult> {
  const dir = resolve(options.dir);
  try {
    return await updateIn(dir, options);
  } catch (error) {
    const disk = diskFailureOf(error);
    throw disk ? diskError(disk, dir) : error;
  }
}

async function updateIn(dir: string, options: UpdateOptions): Promise<UpdateResult> {
  // The state first says what `current` holds, and a crash's undone steps are done (agent/reconcile.ts).
  await reconcile(dir, options.log);
  const session = await openSession(dir, options, Boolean(options.force));
  await finishPending(session);

  const polled = await poll(session);
  const installed = session.state.installed;
  if (!options.force && installed && polled.unchanged) {
    session.state = await updateState(dir, { lastResult: { at: now(), result: 'up-to-date', version: installed.version } });
    return { result: 'up-to-date', version: installed.version, manifestRequested: false };
  }

  const offer = new Offer(session, await requestManifest(session));
  const manifest = offer.manifest;
  if (installed && polled.intact && offersInstalled(manifest, installed)) {
    session.state = await updateState(dir, { ...snapshotSeen(polled), metadataUrl: manifest.metadataUrl, pollSeconds: manifest.pollSeconds, lastResult: { at: now(), result: 'up-to-date', version: installed.version } });
    return { result: 'up-to-date', version: installed.version, manifestRequested: true };
  }
  let result: Awaited<ReturnType<typeof install>>;
  try {
    refuseRollback(manifest, installed);
    result = await install(session, offer, options.patches === false ? false : { maxFileBytes: options.patchMaxFileBytes });
  } catch (error) {
    throw await failed(session, manifest.version, error);
  }
  // `current` holds the new set: the state says so before the cleanup, with the report
  // pending, so that a crash from here on leaves only those two to the next run.
  session.state = await updateState(dir, {
    installed: { version: manifest.version, path: result.setPath, setManifest: manifest.setManifest, installedAt: now() },
    pendingReport: { version: manifest.version },
    ...snapshotSeen(polled),
    metadataUrl: manifest.metadataUrl,
    pollSeconds: manifest.pollSeconds,
    lastResult: { at: now(), result: 'ok', version: manifest.version },
  });
  crashPoint('after-state');
  await finishInstall(session, { setPath: result.setPath, keep: result.keep });
  const { setPath: _setPath, keep: _keep, ...summary } = result;
  return { result: 'installed', version: manifest.version, ...(installed && { previousVersion: installed.version }), ...summary };
}

/** Why a state write failed, for the end of a line. */
function writeFailure(error: unknown): string {
  const disk = diskFailureOf(error);
  if (disk) return disk.errno === 'ENOSPC' || disk.errno === 'EDQUOT' ? 'no space left' : disk.errno;
  return error instanceof Error ? error.message : String(error);
}

/**
 * An install that failed before the switch (the installed set is as it was): recorded in
 * the state and reported; returns the AgentError to throw. After a disk failure the
 * partial files go first: they fill the disk, and the state write needs room. That write
 * is best effort: when it fails too, the same line says so.
 */
async function failed(session: Session, version: string, error: unknown): Promise<AgentError> {
  const disk = diskFailureOf(error);
  const failure = error instanceof AgentError ? error : disk ? diskError(disk, session.dir) : new AgentError('INSTALL_FAILED', error instanceof Error ? error.message : String(error));
  if (failure.code === 'ABORTED') return failure;
  if (DISK_CODES.has(failure.code)) await removePartials(session.dir);
  const detail = `${failure.code}: ${failure.message}`;
  const unrecorded = await updateState(session.dir, { lastResult: { at: now(), result: 'failed', version, detail } }).then(
    (state) => void (session.state = state),
    (stateError: unknown) => writeFailure(stateError),
  );
  await report(session, version, 'failed', detail);
  if (unrecorded === undefined) return failure;
  return new AgentError(failure.code, `${failure.message} (the failure could not be recorded in ${statePath(session.dir)} either: ${unrecorded})`, failure.status, failure.retryable, failure.retryAfterMs);
}

/** Steps 4 to 6.2: verify, download what is missing, build the set, switch `current`; `keep`: what the store keeps for it. */
async function install(session: Session, offer: Offer, patches: false | { maxFileBytes: number | undefined }): Promise<Omit<Extract<UpdateResult, { result: 'installed' }>, 'result' | 'version' | 'previousVersion'> & { setPath: string; keep: ReadonlySet<string> }> {
  const { dir, http } = session;
  const manifest = offer.manifest;
  const targetInfo = await refreshMetadata(dir, http, manifest, offer);
  const source = { url: async (path: string) => withQuery(`${manifest.targetsUrl}${path}`, await offer.query()), renew: () => offer.renew() };
  const set = await verifySet(dir, http, source, manifest, targetInfo);
  let lacking = 0;
  for (const [sha256, info] of set.targets) if (!(await inStore(dir, sha256, info.length))) lacking++;
  // Patches first: what they rebuild is in the store, so the download below skips it.
  const patched: PatchStats = { applied: 0, bytes: 0, fallbacks: [] };
  if (patches) await patchMissing({ dir, http, source, product: manifest.product, targetInfo, ...(patches.maxFileBytes !== undefined && { maxFileBytes: patches.maxFileBytes }) }, set.files, patched);
  const stats: DownloadStats = { files: 0, bytes: 0, resumed: 0 };
  const { downloadMs } = await downloadMissing(dir, http, source, set.targets, stats, session.options.onProgress);

  const path = await assembleSet(dir, manifest.version, set.files);
  crashPoint('before-switch');
  await switchCurrent(dir, path);
  crashPoint('after-switch');
  return {
    files: set.files.length,
    reusedFiles: set.files.length - lacking,
    patchedFiles: patched.applied,
    patchBytes: patched.bytes,
    patchFallbacks: patched.fallbacks,
    downloadedFiles: stats.files,
    setManifestBytes: set.downloadedBytes,
    downloadedBytes: stats.bytes,
    resumedDownloads: stats.resumed,
    downloadMs: Math.round(downloadMs * 10) / 10,
    path: join(dir, path),
    setPath: path,
    keep: new Set([set.sha256, ...set.files.map((f) => f.sha256)]),
  };
}
