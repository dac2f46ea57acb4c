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
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { ObjectStore } from '#lib/aws/objects.ts';
import { mapLimit } from '#lib/concurrency.ts';
import { metadataSpace } from '#lib/definitions/bucket.ts';
import { InvalidRequest, Unavailable } from '#lib/errors.ts';
import { parseTargets, signMetadata } from '#lib/tuf/metadata.ts';
import type { Signer } from '#lib/tuf/signer.ts';
import type { CommitResult } from './repository.ts';
import type { SetFile, SetManifest } from './set-manifest.ts';
import { FILE_NAME, fileTargetPath, parseSetManifest, productTargetsPrefix, setManifestBytes, setTargetPath, targetObjectKey } from './set-manifest.ts';
import { DEFAULT_RETENTION, nextTargets, versionsIn } from './targets.ts';
import { isVersion } from './versions.ts';

export interface PublishDeps {
  readonly objects: ObjectStore;
  /** Uploads a local file to `key`, with S3 checking its SHA-256. */
  readonly upload: (key: string, file: string, sha256: string, length: number) => Promise<void>;
  readonly repository: {
    targetsVersion(): Promise<number>;
    commit(request: { product: string; version: string; targets: unknown }): Promise<CommitResult>;
  };
  readonly targetsSigner: Signer;
  readonly now: () => Date;
  readonly progress?: (done: { files: number; bytes: number }, total: { files: number; bytes: number }) => void;
}

export interface PublishRequest {
  readonly product: string;
  readonly version: string;
  readonly dir: string;
  readonly retention?: number;
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
}

interface LocalFile extends SetFile {
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
  const retention = request.retention ?? DEFAULT_RETENTION;

  const files = await scanSet(product, request.dir);
  const manifest: SetManifest = { product, version, files: files.map(({ path, target, length, sha256 }) => ({ path, target, length, sha256 })) };
  const manifestBytes = setManifestBytes(manifest);
  const manifestSha = createHash('sha256').update(manifestBytes).digest('hex');
  const manifestPath = setTargetPath(product, version, manifestSha);

  // Upload what the bucket does not have yet (one listing, not a HEAD per file).
  const stored = await deps.objects.list(productTargetsPrefix(product));
  const unique = [...new Map(files.map((f) => [f.target, f])).values()];
  const missing = unique.filter((f) => !stored.has(targetObjectKey(f.target, f.sha256)));
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
    const currentVersion = await deps.repository.targetsVersion();
    const previousBytes = currentVersion > 0 ? await deps.objects.get(`${metadataSpace.prefix}${currentVersion}.targets.json`) : undefined;
    const previous = previousBytes ? readableTargets(previousBytes) : undefined;
    if (currentVersion > 0 && !previous) {
      // Committed but not yet copied to its final name (the service finishes that within moments, or on its next refresh).
      if (attempt < 5) {
        await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
        continue;
      }
      throw new Unavailable(`metadata/${currentVersion}.targets.json is not in the bucket yet; run the publish again shortly`);
    }
    const kept = previous ? versionsIn(previous, product).filter((v) => v.version !== version).slice(0, retention - 1) : [];
    const retainedManifests = await mapLimit(kept, 8, async (v) => {
      const bytes = await deps.objects.get(targetObjectKey(v.path, v.sha256));
      if (!bytes) throw new Error(`the set manifest of ${product} ${v.version} is missing from the bucket`);
      return parseSetManifest(bytes);
    });
    const targets = nextTargets({ previous, manifest, manifestTarget: { path: manifestPath, length: manifestBytes.length, sha256: manifestSha }, retainedManifests, retention, now: deps.now() });
    await signMetadata(targets, [deps.targetsSigner]);
    try {
      const result = await deps.repository.commit({ product, version, targets: targets.toJSON() });
      return {
        product,
        version,
        files: files.length,
        bytes: files.reduce((n, f) => n + f.length, 0),
        uploadedFiles: missing.length,
        uploadedBytes: total.bytes,
        targetsVersion: result.release.targetsVersion,
        alreadyPublished: result.alreadyPublished,
        setManifest: manifestPath,
      };
    } catch (error) {
      // Another publisher committed first: build on what it committed, sign again.
      if (attempt < 5 && (error as { code?: unknown }).code === 'REPOSITORY_MOVED_ON') continue;
      throw error;
    }
  }
}

