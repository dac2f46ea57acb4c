/**
 * For the replication tests (unit and integration): a release committed through the real
 * `commitRelease` into any bucket (its files and set manifest uploaded first, its targets
 * metadata signed with the test targets key), and S3 replication as a copy of chosen keys
 * from a primary bucket to a replica, in any order the test wants.
 */
import { createHash } from 'node:crypto';
import type { ObjectStore } from '#lib/aws/objects.ts';
import { replicatedPrefixes } from '#lib/definitions/bucket.ts';
import type { RepositoryDeps } from '#lib/releases/repository.ts';
import { commitRelease, committedTargets } from '#lib/releases/repository.ts';
import { fileTargetPath, setManifestBytes, setTargetPath, targetObjectKey } from '#lib/releases/set-manifest.ts';
import type { SetManifest } from '#lib/releases/set-manifest.ts';
import { nextTargets } from '#lib/releases/targets.ts';
import { parseTargets, signMetadata } from '#lib/tuf/metadata.ts';
import { repositoryKeys } from './memory-repository.ts';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Publishes `files` as `product` `version` into `deps.objects`: the object keys of its new targets (files first, the set manifest last) and the set manifest's target path. */
export async function commitTestRelease(deps: RepositoryDeps, product: string, version: string, files: Record<string, string>): Promise<{ keys: string[]; setPath: string }> {
  const state = await deps.store.repositoryState();
  if (!state) throw new Error('the repository has no root');
  const uploaded: string[] = [];
  const manifestFiles = [];
  for (const [path, content] of Object.entries(files)) {
    const bytes = Buffer.from(content);
    const hash = sha256(bytes);
    const target = fileTargetPath(product, hash, path);
    const key = targetObjectKey(target, hash);
    await deps.objects.put(key, bytes, 'application/octet-stream');
    uploaded.push(key);
    manifestFiles.push({ path, target, length: bytes.length, sha256: hash });
  }
  const manifest: SetManifest = { product, version, files: manifestFiles };
  const manifestBytes = setManifestBytes(manifest);
  const manifestHash = sha256(manifestBytes);
  const manifestPath = setTargetPath(product, version, manifestHash);
  const manifestKey = targetObjectKey(manifestPath, manifestHash);
  await deps.objects.put(manifestKey, manifestBytes);
  uploaded.push(manifestKey);
  const previousBytes = await committedTargets(deps.objects, state);
  const targets = nextTargets({
    previous: previousBytes && parseTargets(previousBytes).signed,
    manifest,
    manifestTarget: { path: manifestPath, length: manifestBytes.length, sha256: manifestHash },
    retainedManifests: [],
    retention: 5,
    now: deps.now(),
  });
  await signMetadata(targets, [repositoryKeys.targets]);
  await commitRelease(deps, { product, version, targets: targets.toJSON() }, 'arn:aws:iam::000000000000:user/replication-test');
  return { keys: uploaded, setPath: manifestPath };
}

/** Every key of `primary` that S3 replication would carry (replicatedPrefixes), optionally only those `which` accepts. */
export async function replicatedKeys(primary: ObjectStore): Promise<string[]> {
  const keys = await Promise.all(replicatedPrefixes.map((prefix) => primary.list(prefix)));
  return keys.flatMap((set) => [...set]).sort();
}

/** Copies `keys` from primary to replica, as S3 replication does (same key, same bytes). */
export async function replicate(primary: ObjectStore, replica: ObjectStore, keys: Iterable<string>): Promise<void> {
  for (const key of keys) {
    const body = await primary.get(key);
    if (!body) throw new Error(`${key} is not in the primary bucket`);
    await replica.put(key, body);
  }
}
