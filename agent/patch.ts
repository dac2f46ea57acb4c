/**
 * Step 5a of docs/agent-protocol.md, binary patches: a file the store lacks is rebuilt
 * from an earlier version's file the store holds (by hash) and a patch the set manifest
 * lists, instead of downloaded whole. A patch is an optimisation only: whatever goes wrong
 * (no base, the patch refused, a result that does not match the signed file) leaves the
 * file missing, and the ordinary download (step 5) fetches it whole. Each file tries at
 * most one patch, once.
 *
 * Applied with @bokuweb/zstd-wasm (docs/tuf-repository.md, "Binary patches: the format")
 * in a worker thread that ends after the apply: a WebAssembly memory never shrinks, and the
 * decode holds base, patch and result at once, each in the worker's heap and again in the
 * WebAssembly memory: the agent's peak RSS while applying is about 5x the file plus Node's
 * own 40 MiB (340 MiB for a 62 MB file, `npm run bench -- delta`). A file over
 * `maxFileBytes` (DEFAULT_PATCH_MAX_FILE_BYTES) is therefore downloaded whole instead.
 */
import { createHash } from 'node:crypto';
import { open, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { TargetFile } from 'tuf-js';
import { PATCH_FORMAT } from '#lib/releases/set-manifest.ts';
import type { DownloadStats, TargetSource } from './download.ts';
import { downloadToStore } from './download.ts';
import { AgentError, diskFailureOf, withPath } from './errors.ts';
import { inStore, moveIntoStore, storeDir, storePath } from './file-store.ts';
import type { HttpClient } from './http.ts';
import type { SetFile } from './verify.ts';

/** A patch entry as the reference agent uses it (the set manifest's `patches`, docs/tuf-repository.md). */
export interface UsablePatch {
  readonly target: string;
  readonly sha256: string;
  readonly length: number;
  readonly base: string;
}

/** Where patches come from: the install (or mirror) dir, the HTTP client, the grant-carrying target source, the product and its signed targets. */
export interface PatchSource {
  readonly dir: string;
  readonly http: HttpClient;
  readonly source: TargetSource;
  readonly product: string;
  readonly targetInfo: (path: string) => Promise<TargetFile>;
  /** Files larger than this are downloaded whole: the apply's memory is about 5x the file. Default DEFAULT_PATCH_MAX_FILE_BYTES. */
  readonly maxFileBytes?: number;
}

/** 128 MiB: applying a patch to a file this size peaks at about 700 MiB of agent RSS. */
export const DEFAULT_PATCH_MAX_FILE_BYTES = 128 * 1024 * 1024;

export interface PatchStats {
  /** Files rebuilt from a patch and verified. */
  applied: number;
  /** Bytes of patches received. */
  bytes: number;
  /** Why a patch was given up for the whole file, one line per file. */
  readonly fallbacks: string[];
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * The patches the set manifest lists for `file` in a format this agent knows and that give
 * exactly this file. The set manifest is TUF-verified, but read here field by field: an
 * entry of another shape is skipped, not an error (patches are optional).
 */
export function listedPatches(file: SetFile): UsablePatch[] {
  const listed: unknown = (file as { patches?: unknown }).patches;
  if (!Array.isArray(listed)) return [];
  return (listed as Array<Record<string, unknown>>).flatMap((entry) => {
    const base = (entry.base as { sha256?: unknown } | undefined)?.sha256;
    const result = (entry.result as { sha256?: unknown } | undefined)?.sha256;
    const { target, sha256, length } = entry;
    if (entry.format !== PATCH_FORMAT || typeof target !== 'string' || typeof sha256 !== 'string' || !HEX64.test(sha256) || typeof base !== 'string' || !HEX64.test(base)) return [];
    if (typeof length !== 'number' || !Number.isSafeInteger(length) || length <= 0 || result !== file.sha256 || base === file.sha256) return [];
    return [{ target, sha256, length, base }];
  });
}

/**
 * The patch to try for `file`, if any: one of `listedPatches`, from a base the store
 * holds, and smaller than the file (else the whole file costs less). The smallest such one.
 */
export function choosePatch(file: SetFile, hasBase: (sha256: string) => boolean): UsablePatch | undefined {
  let best: UsablePatch | undefined;
  for (const patch of listedPatches(file)) {
    if (patch.length >= file.length || !hasBase(patch.base)) continue;
    if (!best || patch.length < best.length) best = patch;
  }
  return best;
}

/** Whether the signed target info vouches for the patch as the set manifest lists it: this product's, of kind patch, the same hash and length. */
export function signsPatch(info: TargetFile | undefined, product: string, patch: UsablePatch): info is TargetFile {
  const custom = (info?.custom ?? {}) as { product?: unknown; kind?: unknown };
  return info !== undefined && custom.product === product && custom.kind === 'patch' && info.hashes.sha256 === patch.sha256 && info.length === patch.length;
}

/**
 * The content size a zstd frame declares (RFC 8878, 3.1.1.1), or undefined when the
 * bytes are not a frame or do not say. The decoder sizes its output from it, so a patch
 * whose frame does not declare exactly the signed length is refused before any decode.
 */
export function zstdFrameContentSize(bytes: Uint8Array): number | undefined {
  if (bytes.length < 6 || bytes[0] !== 0x28 || bytes[1] !== 0xb5 || bytes[2] !== 0x2f || bytes[3] !== 0xfd) return undefined;
  const descriptor = bytes[4] as number;
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const dictIdBytes = [0, 1, 2, 4][descriptor & 3] as number;
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag] as number;
  const at = 5 + (singleSegment ? 0 : 1) + dictIdBytes;
  if (fcsBytes === 0 || bytes.length < at + fcsBytes) return undefined;
  let size = 0;
  for (let i = fcsBytes - 1; i >= 0; i--) size = size * 256 + (bytes[at + i] as number);
  return fcsBytes === 2 ? size + 256 : size;
}

/** The worker's code: CommonJS, given the package's resolved path, so it runs the same from sources (tsx) and under a test runner. */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
(async () => {
  const zstd = require(workerData.module);
  await zstd.init();
  const base = readFileSync(workerData.base);
  const patch = readFileSync(workerData.patch);
  const out = zstd.decompressUsingDict(zstd.createDCtx(), patch, base, { defaultHeapSize: workerData.length });
  parentPort.postMessage({ out }, [out.buffer]);
})().catch((error) => parentPort.postMessage({ error: String((error && error.message) || error) }));
`;

function decoderModule(): string {
  return createRequire(import.meta.url).resolve('@bokuweb/zstd-wasm');
}

/** Applies the patch file to the base file in a worker thread of its own; the worker ends with the apply. */
export function applyPatchFile(base: string, patch: string, length: number, signal?: AbortSignal): Promise<Buffer> {
  let module: string;
  try {
    module = decoderModule();
  } catch {
    return Promise.reject(new Error('the zstd decoder (@bokuweb/zstd-wasm) is not installed'));
  }
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { eval: true, workerData: { module, base, patch, length } });
    const stop = () => void worker.terminate();
    signal?.addEventListener('abort', stop, { once: true });
    const done = (settle: () => void) => {
      signal?.removeEventListener('abort', stop);
      void worker.terminate();
      settle();
    };
    worker.once('message', (message: { out?: Uint8Array; error?: string }) =>
      done(() => (message.out ? resolve(Buffer.from(message.out.buffer, message.out.byteOffset, message.out.byteLength)) : reject(new Error(`the decoder refused the patch: ${message.error ?? 'no output'}`)))),
    );
    worker.once('error', (error) => done(() => reject(error)));
    worker.once('exit', (code) => done(() => reject(signal?.aborted ? new AgentError('ABORTED', 'stopped') : new Error(`the patch worker exited with ${code}`))));
  });
}

/**
 * Rebuilds, from patches, the files of the set the store lacks, one file at a time (one
 * decode in memory at once). A file rebuilt and verified against its signed hash and
 * length is moved into the store, as a download would be; any other outcome is a line in
 * `stats.fallbacks` and the file stays missing for the whole-file download.
 */
export async function patchMissing(from: PatchSource, files: readonly SetFile[], stats: PatchStats): Promise<void> {
  const { dir } = from;
  const held = new Set(await readdir(storeDir(dir)).catch(() => [] as string[]));
  const tried = new Set<string>();
  for (const file of files) {
    if (tried.has(file.sha256) || (await inStore(dir, file.sha256, file.length))) continue;
    tried.add(file.sha256);
    const patch = choosePatch(file, (sha256) => held.has(sha256));
    if (!patch) continue;
    const maxFileBytes = from.maxFileBytes ?? DEFAULT_PATCH_MAX_FILE_BYTES;
    if (file.length > maxFileBytes) {
      // Checked before the patch is fetched: its bytes would be wasted.
      stats.fallbacks.push(`${file.path}: ${file.length} bytes is over the patch size limit of ${maxFileBytes} bytes (applying holds about 5x the file in memory)`);
      continue;
    }
    const patchFile = storePath(dir, patch.sha256);
    try {
      await rebuild(from, file, patch, stats);
      stats.applied++;
    } catch (error) {
      if (error instanceof AgentError && error.code === 'ABORTED') throw error;
      // A full or failing disk would fail the whole-file download too: the update ends here (agent/errors.ts).
      if (diskFailureOf(error)) throw error;
      stats.fallbacks.push(`${file.path}: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      // The patch is of no use once applied or given up; it never names a file of a set.
      if (!files.some((f) => f.sha256 === patch.sha256)) await rm(patchFile, { force: true });
    }
  }
}

async function rebuild({ dir, http, source, product, targetInfo }: PatchSource, file: SetFile, patch: UsablePatch, stats: PatchStats): Promise<void> {
  // The patch must be a signed target of this product, of kind patch, as the set manifest lists it.
  const info = await targetInfo(patch.target);
  if (!signsPatch(info, product, patch)) throw new Error(`the set manifest and the signed targets metadata disagree about ${patch.target}`);
  const received: DownloadStats = { files: 0, bytes: 0, resumed: 0 };
  try {
    await downloadToStore(dir, http, source, info, received); // verified against the signed hash and length
  } finally {
    stats.bytes += received.bytes;
  }
  const declared = zstdFrameContentSize(await readHead(storePath(dir, patch.sha256)));
  if (declared !== file.length) throw new Error(`the patch declares ${declared ?? 'no'} content size, not the file's ${file.length} bytes`);
  const result = await applyPatchFile(storePath(dir, patch.base), storePath(dir, patch.sha256), file.length, http.signal);
  const sha256 = createHash('sha256').update(result).digest('hex');
  if (result.length !== file.length || sha256 !== file.sha256) throw new Error(`the patched file does not match the signed file (${result.length} bytes, sha256 ${sha256})`);
  const partial = `${storePath(dir, file.sha256)}.partial`;
  await writeFile(partial, result, { mode: 0o600 }).catch((error: unknown) => {
    throw withPath(error, partial);
  });
  await moveIntoStore(partial, storePath(dir, file.sha256));
}

/** The first bytes of a file: a zstd frame header is at most 18. */
async function readHead(file: string): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(18), 0, 18, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
