/**
 * Step 5 of docs/agent-protocol.md, download only what is missing, resumably: a file the
 * store holds is not fetched again; a missing one continues its `.partial` with a Range
 * request, is hashed as it arrives, verified whole against the signed target info, then
 * moved into the store.
 */
import { consistentName } from '#lib/releases/set-manifest.ts';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import type { TargetFile } from 'tuf-js';
import type { AgentOptions } from './client.ts';
import { AgentError, diskFailureOf, withPath } from './errors.ts';
import { inStore, moveIntoStore, sizeOf, storeDir, storePath } from './file-store.ts';
import type { DownloadResponse, HttpClient } from './http.ts';
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
 * Downloads the listed targets the store lacks and waits until every one is in the store.
 * Returns how many were missing, and the wall time of their downloads in ms.
 */
export async function downloadMissing(dir: string, http: HttpClient, source: TargetSource, targets: ReadonlyMap<string, TargetFile>, stats: DownloadStats, onProgress?: AgentOptions['onProgress']): Promise<{ missing: number; downloadMs: number }> {
  const missing: TargetFile[] = [];
  for (const [sha256, info] of targets) if (!(await inStore(dir, sha256, info.length))) missing.push(info);
  const totalBytes = missing.reduce((n, i) => n + i.length, 0);
  let doneBytes = 0;
  let doneFiles = 0;
  const progress = () => onProgress?.({ files: doneFiles, totalFiles: missing.length, bytes: doneBytes, totalBytes });
  // A few downloads at once: latency hides behind the others. Each file's fsync and move
  // into the store run on while the slot fetches the next; all are awaited before the switch.
  const downloadStarted = performance.now();
  const stored: Array<Promise<void>> = [];
  let next = 0;
  let failure: unknown;
  // After the first failure no slot starts another file, and every slot ends before this
  // returns: no download may still be writing a .partial when the caller cleans up
  // (after a full disk, switch.ts removePartials) or the process exits.
  await Promise.all(
    Array.from({ length: Math.min(4, missing.length) }, async () => {
      while (next < missing.length && failure === undefined) {
        const info = missing[next++] as TargetFile;
        try {
          const fetched = await fetchVerified(dir, http, source, info, stats, (n) => {
            doneBytes += n;
            progress();
          });
          stored.push(fetched.stored);
        } catch (error) {
          failure ??= error ?? new Error('download failed');
          return;
        }
        doneFiles++;
        progress();
      }
    }),
  );
  // Even when a download failed: no move into the store may still be running when this returns.
  const settled = await Promise.allSettled(stored);
  if (failure) throw failure;
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed && diskFailureOf(failed.reason)) throw failed.reason; // the disk's failure, said as such by the caller
  if (failed) throw new AgentError('INSTALL_FAILED', `cannot store a verified download: ${failed.reason instanceof Error ? failed.reason.message : String(failed.reason)}`);
  return { missing: missing.length, downloadMs: performance.now() - downloadStarted };
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
  const download = new FileDownload(http, source, info, sha256, partial, stats, onBytes);
  await http.retrying(info.path, () => download.run());
  return { stored: moveIntoStore(partial, dest) };
}

/**
 * Where one file's download stands. Each answer moves it on by a rule of
 * docs/agent-protocol.md (step 5; step 3 for the grant):
 *
 *   open    → fetch    the .partial holds less than the signed length: ask for the rest
 *   open    → verify   it holds all of it (an earlier run's): read it once
 *   fetch   → open     403: the grant expired: a fresh grant, the same download (once per file)
 *   fetch   → open     416, or a 206 that does not continue the partial: drop it, start over
 *   fetch   → receive  200 (the range was ignored: start over), or 206 from the partial's end
 *   receive → verify   the signed length arrived, hashed on the way
 *   verify  → open     a resumed file does not match: drop it, fetch it whole (once per file)
 *   verify  → done
 *
 * Anything else throws. A network error, 5xx or 429 is retried by the client's backoff,
 * from `open` again: the download continues from what the partial holds. A second 403, a
 * mismatch of a file fetched whole, more bytes than signed, or a disk error ends it.
 */
type Step =
  | { readonly at: 'open' }
  /** `kept`: what the partial held when this pass began. */
  | { readonly at: 'fetch'; readonly kept: number }
  | { readonly at: 'receive'; readonly kept: number; readonly url: string; readonly response: DownloadResponse; readonly append: boolean }
  /** `received`: what arrived in this pass; none when the partial was complete already. */
  | { readonly at: 'verify'; readonly kept: number; readonly received?: { readonly sha256: string; readonly length: number } }
  | { readonly at: 'done' };

/** What happens at most once a file, however often it is retried (a second 403 or mismatch is the error). */
type OnceRule = 'renew the grant' | 'fetch it whole' | 'count as resumed';

class FileDownload {
  private readonly taken = new Set<OnceRule>();

  constructor(
    private readonly http: HttpClient,
    private readonly source: TargetSource,
    private readonly info: TargetFile,
    private readonly sha256: string,
    private readonly partial: string,
    private readonly stats: DownloadStats,
    private readonly onBytes?: (n: number) => void,
  ) {}

  /** One pass, from what the partial holds; the client's backoff runs it again after a retryable failure. */
  async run(): Promise<void> {
    for (let step: Step = { at: 'open' }; step.at !== 'done'; ) {
      if (step.at === 'open') step = await this.open();
      else if (step.at === 'fetch') step = await this.fetch(step);
      else if (step.at === 'receive') step = await this.receive(step);
      else step = await this.verify(step);
    }
  }

  /** Whether this file takes `rule` for the first time (and so may); from then on it may not. */
  private firstTime(rule: OnceRule): boolean {
    if (this.taken.has(rule)) return false;
    this.taken.add(rule);
    return true;
  }

  private async open(): Promise<Step> {
    let kept = (await sizeOf(this.partial)) ?? 0;
    if (kept > this.info.length) {
      await rm(this.partial, { force: true });
      kept = 0;
    }
    return kept < this.info.length ? { at: 'fetch', kept } : { at: 'verify', kept };
  }

  private async fetch({ kept }: { kept: number }): Promise<Step> {
    // The name consistent snapshots give the target (`<dir>/<sha256>.<basename>`), as any TUF client asks for it.
    const url = await this.source.url(consistentName(this.info.path, this.info.hashes.sha256 ?? ''));
    const response = await this.http.download(url, kept > 0 ? { range: `bytes=${kept}-` } : {});
    if (response.status === 403 && this.firstTime('renew the grant')) {
      // The grant expired (or was about to): ask for a fresh one, once per file.
      await response.cancel();
      await this.source.renew();
      return { at: 'open' };
    }
    if (response.status === 416) return this.startOver(response);
    if (!response.ok) throw answerError(response, await response.text().catch(() => ''), url);
    if (response.status !== 206) return { at: 'receive', kept, url, response, append: false };
    const start = /^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '')?.[1];
    if (start === undefined || Number(start) !== kept) return this.startOver(response);
    return { at: 'receive', kept, url, response, append: true };
  }

  private async startOver(response: DownloadResponse): Promise<Step> {
    await response.cancel();
    await rm(this.partial, { force: true });
    return { at: 'open' };
  }

  private async receive({ kept, url, response, append }: Extract<Step, { at: 'receive' }>): Promise<Step> {
    const { info, partial, stats } = this;
    if (append && this.firstTime('count as resumed')) stats.resumed++;
    let have = append ? kept : 0;
    // Hash as the bytes arrive (a resumed file's kept part first), so verifying needs no second read.
    const hash = createHash('sha256');
    if (append) for await (const piece of createReadStream(partial)) hash.update(piece as Buffer);
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
        this.onBytes?.(chunk.length);
        if (file.errored) throw file.errored; // a failed write stream emits no more 'drain'
        if (!file.write(chunk)) await once(file, 'drain');
      }
    } catch (error) {
      // What arrived before the failure stays in the .partial, for the Range resume.
      file.end();
      await written.catch(() => undefined);
      if (error instanceof AgentError) throw error;
      if (file.errored) throw withPath(error, partial);
      throw transportError(error, url, undefined, this.http.signal);
    }
    file.end();
    // A disk error (ENOSPC, EIO) is not the network's: it is thrown as it is, not retried,
    // naming the .partial (a write stream's error names no path).
    await written.catch((error: unknown) => {
      throw withPath(error, partial);
    });
    if (have < info.length) throw new AgentError('NETWORK', `${info.path}: the download ended after ${have} of ${info.length} bytes`, undefined, true);
    return { at: 'verify', kept, received: { sha256: hash.digest('hex'), length: have } };
  }

  private async verify({ kept, received }: Extract<Step, { at: 'verify' }>): Promise<Step> {
    try {
      if (received) {
        if (received.sha256 !== this.sha256 || received.length !== this.info.length) throw new Error('sha256 or length differ');
      } else {
        await this.info.verify(createReadStream(this.partial)); // complete from an earlier run: read it once
      }
    } catch (error) {
      await rm(this.partial, { force: true });
      // A resumed file may have been spliced from two different contents: fetch it whole once.
      if (kept > 0 && this.firstTime('fetch it whole')) return { at: 'open' };
      throw new AgentError('VERIFICATION_FAILED', `${this.info.path} does not match the signed targets metadata (${error instanceof Error ? error.message : String(error)})`);
    }
    if (received) this.stats.files++;
    return { at: 'done' };
  }
}
