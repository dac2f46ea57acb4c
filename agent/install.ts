/**
 * The install directory's content: a content-addressed store of verified files
 * (`store/<sha256>`, with `store/<sha256>.partial` for a download under way), installed
 * sets (`sets/<version>-<random>/`, files hard-linked from the store) and the `current`
 * symlink that names the installed set. A new set is assembled in `sets/.staging-*` and
 * switched in by renaming a new symlink over `current`: one atomic step, so a failed,
 * interrupted or tampered update leaves the previous set as it was.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, copyFile, link, mkdir, open, readdir, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { finished } from 'node:stream/promises';
import type { TargetFile } from 'tuf-js';
import { AgentError } from './errors.ts';
import type { HttpClient } from './http.ts';
import { answerError, transportError } from './http.ts';

export const CURRENT = 'current';
const WRITE_BUFFER_BYTES = 4 << 20;

export interface DownloadStats {
  /** Files fetched over the network in this update. */
  files: number;
  /** Bytes received over the network in this update (resumed downloads count only what was fetched). */
  bytes: number;
  /** Downloads that continued a `.partial` with a Range request. */
  resumed: number;
}

export interface TargetSource {
  /** The full URL of a target path, with the current grant. */
  url(targetPath: string): Promise<string>;
  /** Asks the server for a fresh grant (the current one was refused). */
  renew(): Promise<void>;
}

export function storeDir(dir: string): string {
  return join(dir, 'store');
}

export function storePath(dir: string, sha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new AgentError('VERIFICATION_FAILED', `not a sha256: ${sha256}`);
  return join(storeDir(dir), sha256);
}

async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Whether the store holds this content already (named by its verified hash, of the right size). */
export async function inStore(dir: string, sha256: string, length: number): Promise<boolean> {
  return (await sizeOf(storePath(dir, sha256))) === length;
}

// fsyncs one after another: each holds one of libuv's 4 pool threads while the disk
// works, and the downloads under way need those threads for their writes.
let diskQueue: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(task: () => Promise<T>): Promise<T> {
  const run = diskQueue.then(task, task);
  diskQueue = run.catch(() => undefined);
  return run;
}

/** Downloads one target into the store and waits until it is there (see fetchVerified). */
export async function downloadToStore(dir: string, http: HttpClient, source: TargetSource, info: TargetFile, stats: DownloadStats, onBytes?: (n: number) => void): Promise<void> {
  await (await fetchVerified(dir, http, source, info, stats, onBytes)).stored;
}

/**
 * Downloads one target: continues `<sha256>.partial` with `Range` when there is one and
 * verifies the whole file against the trusted TUF target info as it arrives. Network
 * failures are retried (resuming) by the client's backoff. Resolves once the bytes are
 * verified, with `stored`: the fsync and the move into the store, left running so the
 * next download need not wait for the disk (an fsync per file in the download slot cost
 * up to a third of the download throughput, docs/agent-protocol.md). Until `stored` settles
 * the file is still a `.partial`, which a later run verifies again before trusting.
 */
export async function fetchVerified(dir: string, http: HttpClient, source: TargetSource, info: TargetFile, stats: DownloadStats, onBytes?: (n: number) => void): Promise<{ stored: Promise<void> }> {
  const sha256 = info.hashes.sha256;
  if (!sha256) throw new AgentError('VERIFICATION_FAILED', `${info.path} has no sha256 in the targets metadata`);
  const dest = storePath(dir, sha256);
  const partial = `${dest}.partial`;
  await mkdir(storeDir(dir), { recursive: true });
  let renewed = false;
  let restarted = false;
  let counted = false;
  await http.retrying(info.path, async () => {
    for (;;) {
      let digest: string | undefined;
      let have = (await sizeOf(partial)) ?? 0;
      if (have > info.length) {
        await rm(partial, { force: true });
        have = 0;
      }
      const resumedFrom = have;
      if (have < info.length) {
        const url = await source.url(info.path);
        const response = await http.download(url, have > 0 ? { range: `bytes=${have}-` } : {});
        if (response.status === 403 && !renewed) {
          // The grant expired (or was about to): ask for a fresh one, once per file.
          await response.cancel();
          renewed = true;
          await source.renew();
          continue;
        }
        if (response.status === 416) {
          await response.cancel();
          await rm(partial, { force: true });
          continue;
        }
        if (!response.ok) throw answerError(response, await response.text().catch(() => ''), url);
        let append = false;
        if (response.status === 206) {
          const start = /^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '')?.[1];
          append = start !== undefined && Number(start) === have;
          if (!append) {
            await response.cancel();
            await rm(partial, { force: true });
            continue;
          }
        }
        if (!append) have = 0;
        if (append && !counted) {
          stats.resumed++;
          counted = true;
        }
        // Hash as the bytes arrive (a resumed file's kept part first), so verifying needs no second read.
        const hash = createHash('sha256');
        if (append) for await (const kept of createReadStream(partial)) hash.update(kept as Buffer);
        // Reading and writing overlap: the file stream buffers up to WRITE_BUFFER_BYTES and
        // writes in the background, so the socket is drained while the disk works.
        const file = createWriteStream(partial, { flags: append ? 'a' : 'w', mode: 0o600, highWaterMark: WRITE_BUFFER_BYTES });
        const written = finished(file);
        written.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
        try {
          for await (const chunk of response.body) {
            if (have + chunk.length > info.length) throw new AgentError('VERIFICATION_FAILED', `${info.path}: the server sent more than the ${info.length} bytes the targets metadata allows`);
            hash.update(chunk);
            have += chunk.length;
            stats.bytes += chunk.length;
            onBytes?.(chunk.length);
            if (file.errored) throw file.errored; // a failed write stream emits no more 'drain'
            if (!file.write(chunk)) await once(file, 'drain');
          }
        } catch (error) {
          // What arrived before the failure stays in the .partial, for the Range resume.
          file.end();
          await written.catch(() => undefined);
          if (error instanceof AgentError || file.errored) throw error;
          throw transportError(error, url, undefined, http.signal);
        }
        file.end();
        await written; // a disk error (ENOSPC, EIO) is not the network's: it is thrown as it is, not retried
        if (have < info.length) throw new AgentError('NETWORK', `${info.path}: the download ended after ${have} of ${info.length} bytes`, undefined, true);
        digest = hash.digest('hex');
      }
      try {
        if (digest !== undefined) {
          if (digest !== sha256 || have !== info.length) throw new Error('sha256 or length differ');
        } else {
          await info.verify(createReadStream(partial)); // complete from an earlier run: read it once
        }
      } catch (error) {
        await rm(partial, { force: true });
        // A resumed file may have been spliced from two different contents: fetch it whole once.
        if (resumedFrom > 0 && !restarted) {
          restarted = true;
          continue;
        }
        throw new AgentError('VERIFICATION_FAILED', `${info.path} does not match the signed targets metadata (${error instanceof Error ? error.message : String(error)})`);
      }
      if (digest !== undefined) stats.files++;
      return;
    }
  });
  const stored = oneAtATime(async () => {
    const handle = await open(partial, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await chmod(partial, 0o444);
    await rename(partial, dest);
  });
  stored.catch(() => undefined); // the caller awaits it; this only keeps an early failure from going unhandled
  return { stored };
}

/** A set-relative path that stays inside the set (no absolute path, no `..`). */
export function safeSetPath(path: string): string {
  const parts = path.split('/');
  if (path === '' || path.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\\'))) {
    throw new AgentError('VERIFICATION_FAILED', `the set manifest names an unsafe path: ${JSON.stringify(path)}`);
  }
  return parts.join(sep);
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch {
    // Not every file system can fsync a directory.
  } finally {
    await handle.close();
  }
}

/**
 * Builds the set in a staging dir from the store (hard links, a copy where links are not
 * possible), then renames it to `sets/<version>-<random>`. Returns that path, relative to `dir`.
 */
export async function assembleSet(dir: string, version: string, files: ReadonlyArray<{ path: string; sha256: string }>): Promise<string> {
  const name = `${version}-${randomBytes(4).toString('hex')}`;
  const sets = join(dir, 'sets');
  const staging = join(sets, `.staging-${name}`);
  await mkdir(staging, { recursive: true });
  try {
    for (const file of files) {
      const target = join(staging, safeSetPath(file.path));
      await mkdir(dirname(target), { recursive: true });
      const source = storePath(dir, file.sha256);
      await link(source, target).catch(async (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EXDEV' && error.code !== 'EPERM' && error.code !== 'ENOTSUP') throw error;
        await copyFile(source, target);
      });
    }
    await syncDir(staging);
    await rename(staging, join(sets, name));
    await syncDir(sets);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  return `sets/${name}`;
}

/** Points `current` at `setPath` (relative to `dir`) atomically: a new symlink renamed over the old one. */
export async function switchCurrent(dir: string, setPath: string): Promise<void> {
  const temp = join(dir, `.${CURRENT}-${randomBytes(4).toString('hex')}`);
  await symlink(setPath, temp);
  try {
    await rename(temp, join(dir, CURRENT));
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncDir(dir);
}

/** Where `current` points (relative to `dir`), if anywhere. */
export async function currentSet(dir: string): Promise<string | undefined> {
  try {
    return await readlink(join(dir, CURRENT));
  } catch {
    return undefined;
  }
}

/**
 * After a successful switch: removes the other sets, staging leftovers, and store
 * entries (and partial downloads) the installed set does not use.
 */
export async function collectGarbage(dir: string, keepSet: string, keepHashes: ReadonlySet<string>): Promise<void> {
  const sets = join(dir, 'sets');
  for (const entry of await readdir(sets).catch(() => [] as string[])) {
    if (`sets/${entry}` !== keepSet) await rm(join(sets, entry), { recursive: true, force: true });
  }
  for (const entry of await readdir(storeDir(dir)).catch(() => [] as string[])) {
    if (!keepHashes.has(entry)) await rm(join(storeDir(dir), entry), { force: true });
  }
  for (const entry of await readdir(dir)) {
    if (entry.startsWith(`.${CURRENT}-`)) await rm(join(dir, entry), { force: true });
  }
}
