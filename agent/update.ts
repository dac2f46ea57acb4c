/**
 * `update()`: one pass through steps 2 to 6 of docs/agent-protocol.md. Poll
 * timestamp.json; only when the snapshot it names moved since the last success (or
 * nothing is installed) ask for the manifest; verify with TUF; download what the store lacks; switch `current`
 * atomically; write the state; report.
 */
import { join, resolve } from 'node:path';
import type { AgentOptions } from './client.ts';
import type { DownloadStats } from './download.ts';
import { downloadMissing } from './download.ts';
import { AgentError } from './errors.ts';
import { inStore } from './file-store.ts';
import { Offer, offersInstalled, refuseRollback, requestManifest } from './manifest.ts';
import type { PatchStats } from './patch.ts';
import { patchMissing } from './patch.ts';
import type { Poll } from './poll.ts';
import { poll } from './poll.ts';
import { report } from './report.ts';
import type { Session } from './session.ts';
import { openSession } from './session.ts';
import { now, updateState } from './state.ts';
import { assembleSet, collectGarbage, switchCurrent } from './switch.ts';
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
 * an atomic switch, and a report.
 */
export async function update(options: UpdateOptions): Promise<UpdateResult> {
  const dir = resolve(options.dir);
  const session = await openSession(dir, options, Boolean(options.force));

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
  try {
    refuseRollback(manifest, installed);
    const result = await install(session, offer, options.patches === false ? false : { maxFileBytes: options.patchMaxFileBytes });
    session.state = await updateState(dir, {
      installed: { version: manifest.version, path: result.setPath, setManifest: manifest.setManifest, installedAt: now() },
      ...snapshotSeen(polled),
      metadataUrl: manifest.metadataUrl,
      pollSeconds: manifest.pollSeconds,
      lastResult: { at: now(), result: 'ok', version: manifest.version },
    });
    await report(session, manifest.version, 'ok');
    const { setPath: _setPath, ...summary } = result;
    return { result: 'installed', version: manifest.version, ...(installed && { previousVersion: installed.version }), ...summary };
  } catch (error) {
    const failure = error instanceof AgentError ? error : new AgentError('INSTALL_FAILED', error instanceof Error ? error.message : String(error));
    if (failure.code === 'ABORTED') throw failure;
    session.state = await updateState(dir, { lastResult: { at: now(), result: 'failed', version: manifest.version, detail: `${failure.code}: ${failure.message}` } });
    await report(session, manifest.version, 'failed', `${failure.code}: ${failure.message}`);
    throw failure;
  }
}

/** Steps 4 to 6.4: verify, download what is missing, build the set, switch `current`, remove what it does not use. */
async function install(session: Session, offer: Offer, patches: false | { maxFileBytes: number | undefined }): Promise<Omit<Extract<UpdateResult, { result: 'installed' }>, 'result' | 'version' | 'previousVersion'> & { setPath: string }> {
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
  await switchCurrent(dir, path);
  await collectGarbage(dir, path, new Set([set.sha256, ...set.files.map((f) => f.sha256)]));
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
  };
}
