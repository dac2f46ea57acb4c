/**
 * Step 5 of docs/agent-protocol.md, download only what is missing, resumably: each
 * target continues its `.partial` with a Range request, is hashed as it arrives and
 * verified whole against the signed target info, then moved into the store.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import type { TargetFile } from 'tuf-js';
import { AgentError } from './errors.ts';
import { moveIntoStore, sizeOf, storeDir, storePath } from './file-store.ts';
import type { HttpClient } from './http.ts';
import { answerError, transportError } from './http.ts';

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
  return { stored: moveIntoStore(partial, dest) };
}
