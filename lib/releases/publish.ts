/**
 * The publisher's side of a release (what `signet publish` runs in CI): hash the set,
 * upload only what the bucket lacks, build and sign the next targets metadata with the
 * targets key, and ask the service to commit. Every step can be run again: uploads are
 * content-addressed, and a commit of a release already published with the same content
 * is answered as done. A commit that finds the repository moved on (another publisher
 * won the race) is rebuilt on the new state and signed again.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import type { ObjectStore } from '#lib/aws/objects.ts';
import { mapLimit } from '#lib/concurrency.ts';
import { metadataSpace } from '#lib/definitions/bucket.ts';
import { InvalidRequest, Unavailable } from '#lib/errors.ts';
import { parseTargets, signMetadata } from '#lib/tuf/metadata.ts';
import type { Signer } from '#lib/tuf/signer.ts';
import type { CommitResult } from './repository.ts';
import { DEFAULT_PATCH_FROM_VERSIONS, choosePatchBases, worthKeeping } from './patches.ts';
import type { SetFile, SetManifest, SetPatch } from './set-manifest.ts';
import { FILE_NAME, PATCH_FORMAT, fileTargetPath, parseSetManifest, patchTargetPath, productTargetsPrefix, setManifestBytes, setTargetPath, targetObjectKey } from './set-manifest.ts';
import { DEFAULT_RETENTION, nextTargets, versionsIn } from './targets.ts';
import { isVersion } from './versions.ts';
import type { Patcher } from './zstd-patch.ts';

export interface PublishDeps {
  readonly objects: ObjectStore;
  /** Uploads a local file to `key`, with S3 checking its SHA-256. */
  readonly upload: (key: string, file: string, sha256: string, length: number) => Promise<void>;
  readonly repository: {
    targetsVersion(): Promise<number>;
    commit(request: { product: string; version: string; targets: unknown }): Promise<CommitResult>;
  };
  readonly targetsSigner: Signer;
  /** Makes binary patches (the zstd CLI); without one the release has no patches. */
  readonly patcher?: Patcher | undefined;
  readonly now: () => Date;
  readonly progress?: (done: { files: number; bytes: number }, total: { files: number; bytes: number }) => void;
}

export interface PublishRequest {
  readonly product: string;
  readonly version: string;
  readonly dir: string;
  readonly retention?: number;
  /** Patches from each of the last K published versions (default 3; 0: none). */
  readonly patchFromVersions?: number;
}

export interface PublishSummary {
  readonly product: string;
  readonly version: string;
  readonly files: number;
  readonly bytes: number;
  readonly uploadedFiles: number;
  readonly uploadedBytes: number;
  readonly targetsVersion: number;
  readonly alreadyPublished: boolean;
  readonly setManifest: string;
  /** Patches listed in the set manifest, and their bytes. */
  readonly patches: number;
  readonly patchBytes: number;
  /** Patches made but not listed: not under half their file, or zstd failed on the pair. */
  readonly patchesDropped: number;
}

interface LocalFile extends SetFile {
  readonly file: string;
}

/** A patch made on this machine, to upload: `file` is where zstd wrote it. */
interface LocalPatch extends SetPatch {
  readonly file: string;
}

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every regular file under `dir`, with `/`-separated paths; names must be plain (no spaces, no dot-dot tricks). */
export async function scanSet(product: string, dir: string): Promise<LocalFile[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  if (files.length === 0) throw new InvalidRequest('dir', `${dir} holds no files`);
  return mapLimit(files.sort(), 4, async (file) => {
    const path = relative(dir, file).split(sep).join('/');
    if (!path.split('/').every((segment) => FILE_NAME.test(segment) && segment !== '.' && segment !== '..')) {
      throw new InvalidRequest('dir', `file name not allowed: ${path} (letters, digits, dot, dash, underscore; at most 128 characters)`);
    }
    const [sha256, info] = await Promise.all([sha256OfFile(file), stat(file)]);
    return { file, path, sha256, length: info.size, target: fileTargetPath(product, sha256, path) };
  });
}

/** The targets metadata, or undefined while it is still being written (a store without atomic writes shows a partial object). */
function readableTargets(bytes: Buffer) {
  try {
    return parseTargets(bytes).signed;
  } catch {
    return undefined;
  }
}

export async function publish(deps: PublishDeps, request: PublishRequest): Promise<PublishSummary> {
  const { product, version } = request;
  if (!isVersion(version)) throw new InvalidRequest('version', `"${version}": use 1 to 4 dot-separated whole numbers, e.g. 1.2.3`);

  const files = await scanSet(product, request.dir);
  const work = await mkdtemp(join(tmpdir(), 'signet-patches-'));
  try {
    return await publishScanned(deps, request, files, work);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function publishScanned(deps: PublishDeps, request: PublishRequest, files: LocalFile[], work: string): Promise<PublishSummary> {
  const { product, version } = request;
  const retention = request.retention ?? DEFAULT_RETENTION;
  const made = await makePatches(deps, request, files, work);
  const manifest: SetManifest = {
    product,
    version,
    files: files.map(({ path, target, length, sha256 }) => {
      const patches = (made.byFile.get(sha256) ?? []).map(({ file: _file, ...patch }) => patch);
      return { path, target, length, sha256, ...(patches.length > 0 && { patches }) };
    }),
  };
  const manifestBytes = setManifestBytes(manifest);
  const manifestSha = createHash('sha256').update(manifestBytes).digest('hex');
  const manifestPath = setTargetPath(product, version, manifestSha);

  // Upload what the bucket does not have yet (one listing, not a HEAD per file).
  const stored = await deps.objects.list(productTargetsPrefix(product));
  // Patches are targets like the files: content-addressed, uploaded the same way.
  const uploads: Array<{ target: string; sha256: string; length: number; file: string }> = [...files, ...[...made.byFile.values()].flat()];
  const unique = [...new Map(uploads.map((f) => [f.target, f])).values()];
  const missing = unique.filter((f) => !stored.has(targetObjectKey(f.target, f.sha256)));
  const fileTargets = new Set(files.map((f) => f.target));
  const missingFiles = missing.filter((f) => fileTargets.has(f.target));
  const total = { files: missing.length, bytes: missing.reduce((n, f) => n + f.length, 0) };
  const done = { files: 0, bytes: 0 };
  deps.progress?.(done, total);
  await mapLimit(missing, 8, async (f) => {
    await deps.upload(targetObjectKey(f.target, f.sha256), f.file, f.sha256, f.length);
    done.files++;
    done.bytes += f.length;
    deps.progress?.(done, total);
  });
  const manifestKey = targetObjectKey(manifestPath, manifestSha);
  if (!stored.has(manifestKey)) await deps.objects.put(manifestKey, manifestBytes, 'application/json');

  for (let attempt = 0; ; attempt++) {
    const previous = await currentTargets(deps);
    const kept = previous ? versionsIn(previous, product).filter((v) => v.version !== version).slice(0, retention - 1) : [];
    const retainedManifests = await setManifestsOf(deps.objects, product, kept);
    const targets = nextTargets({ previous, manifest, manifestTarget: { path: manifestPath, length: manifestBytes.length, sha256: manifestSha }, retainedManifests, retention, now: deps.now() });
    await signMetadata(targets, [deps.targetsSigner]);
    try {
      const result = await deps.repository.commit({ product, version, targets: targets.toJSON() });
      return {
        product,
        version,
        files: files.length,
        bytes: files.reduce((n, f) => n + f.length, 0),
        // The set's files alone, as before patches: patch uploads are counted under `patches`.
        uploadedFiles: missingFiles.length,
        uploadedBytes: missingFiles.reduce((n, f) => n + f.length, 0),
        targetsVersion: result.release.targetsVersion,
        alreadyPublished: result.alreadyPublished,
        setManifest: manifestPath,
        patches: made.count,
        patchBytes: made.bytes,
        patchesDropped: made.dropped,
      };
    } catch (error) {
      // Another publisher committed first: build on what it committed, sign again.
      if (attempt < 5 && (error as { code?: unknown }).code === 'REPOSITORY_MOVED_ON') continue;
      throw error;
    }
  }
}


/**
 * The targets metadata the repository is at, or undefined before the first release.
 * Waits a little for one committed but not yet copied to its final name (the service
 * finishes that within moments, or on its next refresh).
 */
async function currentTargets(deps: PublishDeps) {
  for (let attempt = 0; ; attempt++) {
    const currentVersion = await deps.repository.targetsVersion();
    if (currentVersion === 0) return undefined;
    const bytes = await deps.objects.get(`${metadataSpace.prefix}${currentVersion}.targets.json`);
    const targets = bytes ? readableTargets(bytes) : undefined;
    if (targets) return targets;
    if (attempt >= 5) throw new Unavailable(`metadata/${currentVersion}.targets.json is not in the bucket yet; run the publish again shortly`);
    await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
  }
}

async function setManifestsOf(objects: ObjectStore, product: string, versions: ReadonlyArray<{ version: string; path: string; sha256: string }>): Promise<SetManifest[]> {
  return mapLimit(versions, 8, async (v) => {
    const bytes = await objects.get(targetObjectKey(v.path, v.sha256));
    if (!bytes) throw new Error(`the set manifest of ${product} ${v.version} is missing from the bucket`);
    return parseSetManifest(bytes);
  });
}

/**
 * The patches of this release: from each file's path in the last K published versions
 * (choosePatchBases), made by the patcher in `work`, kept when under half the file.
 * A pair zstd fails on is dropped, not fatal: a patch only saves bytes, the file is
 * always there whole. Keyed by the file's sha256.
 */
async function makePatches(deps: PublishDeps, request: PublishRequest, files: readonly LocalFile[], work: string): Promise<{ byFile: Map<string, LocalPatch[]>; count: number; bytes: number; dropped: number }> {
  const byFile = new Map<string, LocalPatch[]>();
  const versions = request.patchFromVersions ?? DEFAULT_PATCH_FROM_VERSIONS;
  const patcher = deps.patcher;
  if (!patcher || versions < 1) return { byFile, count: 0, bytes: 0, dropped: 0 };
  const previous = await currentTargets(deps);
  const earlier = previous ? versionsIn(previous, request.product).filter((v) => v.version !== request.version).slice(0, versions) : [];
  const pairs = choosePatchBases(files, await setManifestsOf(deps.objects, request.product, earlier), versions);
  let dropped = 0;
  // The bases the publisher does not have in the new set: fetched once each, before any patch reads them.
  const bases = new Map<string, string>(files.map((f) => [f.sha256, f.file]));
  // Streamed to disk and checked: a base is as large as the file, and a patch from a damaged
  // base would only make every agent fall back to the whole file.
  await mapLimit([...new Map(pairs.map((p) => [p.base.sha256, p.base])).values()].filter((b) => !bases.has(b.sha256)), 4, async (base) => {
    const file = join(work, `base-${base.sha256}`);
    const fetched = await deps.objects.download(targetObjectKey(base.target, base.sha256), file).catch(() => false);
    if (fetched && (await sha256OfFile(file)) === base.sha256) bases.set(base.sha256, file); // else its patches are dropped below
  });
  // Two at a time: zstd holds base and file in memory (481 MiB peak for a 160 MB pair, in the doc).
  await mapLimit(pairs, 2, async ({ file, base }) => {
    const baseFile = bases.get(base.sha256);
    const out = join(work, `patch-${base.sha256}-${file.sha256}`);
    try {
      if (!baseFile) throw new Error(`${base.target} is missing from the bucket`);
      await patcher(baseFile, bases.get(file.sha256) as string, out);
      const [sha256, info] = await Promise.all([sha256OfFile(out), stat(out)]);
      if (!worthKeeping(info.size, file.length)) dropped++;
      else {
        byFile.set(file.sha256, [...(byFile.get(file.sha256) ?? []), { format: PATCH_FORMAT, target: patchTargetPath(request.product, sha256, file.path), sha256, length: info.size, base: { sha256: base.sha256 }, result: { sha256: file.sha256 }, file: out }]);
      }
    } catch {
      dropped++;
    }
  });
  const all = [...byFile.values()].flat();
  return { byFile, count: all.length, bytes: all.reduce((n, p) => n + p.length, 0), dropped };
}
