/**
 * The replica rule against real S3 (the local stack's s3rver): two buckets play the
 * primary region's and a replica region's. The repository code writes into the primary
 * (with replica views on, as in a deployment with replica regions), the test plays S3
 * replication by copying chosen keys in a chosen order, and the promoter's real handler
 * runs on the replica. An independent TUF client (tuf-js, default settings) reading the
 * replica bucket is the agent that must never see a broken view.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { Updater } from 'tuf-js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { s3ObjectStore, s3ReplicaBucket } from '#lib/aws/objects.ts';
import { createLogger } from '#lib/log.ts';
import { timestampKey } from '#lib/definitions/bucket.ts';
import { replicaViewKey } from '#lib/releases/replication.ts';
import type { RepositoryDeps } from '#lib/releases/repository.ts';
import { refreshTimestamp } from '#lib/releases/repository.ts';
import { parseSetManifest } from '#lib/releases/set-manifest.ts';
import { parseTimestamp } from '#lib/tuf/metadata.ts';
import { localS3Client } from '#local/s3-local.ts';
import { createReplicaPromoterHandler } from '#functions/replica-promoter/handler.ts';
import { memoryRepositoryDeps, publishedRepository } from '#test/support/memory-repository.ts';
import { commitTestRelease, replicate, replicatedKeys } from '#test/support/replication.ts';

const stack = inject('stack');
const s3 = localS3Client(stack.s3Endpoint);
const suffix = Date.now().toString(36);
const primaryBucket = `replication-primary-${suffix}`;
const replicaBucket = `replication-replica-${suffix}`;
const primary = s3ObjectStore(s3, primaryBucket);
const replica = s3ObjectStore(s3, replicaBucket);
const promote = createReplicaPromoterHandler({ bucket: s3ReplicaBucket(s3, replicaBucket), now: () => new Date(), logger: createLogger('replicaPromoter', { logLevel: 'SILENT' }) });
const dirs: string[] = [];
let deps: RepositoryDeps;
let first: { keys: string[]; setPath: string };

beforeAll(async () => {
  for (const bucket of [primaryBucket, replicaBucket]) await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  // Root 1, empty targets 1, snapshot 1 (signed in memory), then everything lives in the primary bucket.
  const { repo } = await publishedRepository(new Date());
  for (const [key, body] of repo.objects) await primary.put(key, body);
  deps = { ...memoryRepositoryDeps(repo, () => new Date()), objects: primary, replicaViews: true };
});

afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  s3.destroy();
});

async function served(bucket: string): Promise<Buffer> {
  const result = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: timestampKey }));
  return Buffer.from((await result.Body?.transformToByteArray()) ?? []);
}

/**
 * An agent reading the replica bucket: a fresh tuf-js client (default settings) trusting
 * root 1 refreshes, then downloads the set manifest at `setPath` and every file it lists.
 * It throws on any inconsistency: metadata it cannot fetch or verify, a target that is
 * missing or does not match its hash, a set the targets metadata does not list.
 */
async function agentInstalls(setPath: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'signet-replica-agent-'));
  dirs.push(dir);
  const metadataDir = join(dir, 'metadata');
  const targetDir = join(dir, 'targets');
  await Promise.all([mkdir(metadataDir), mkdir(targetDir)]);
  await writeFile(join(metadataDir, 'root.json'), (await primary.get('metadata/1.root.json')) as Buffer);
  const base = `${stack.s3Endpoint}/${replicaBucket}`;
  const updater = new Updater({ metadataDir, metadataBaseUrl: `${base}/metadata`, targetDir, targetBaseUrl: `${base}/targets` });
  await updater.refresh();
  const download = async (path: string) => {
    const info = await updater.getTargetInfo(path);
    if (!info) throw new Error(`${path} is not in the targets metadata the replica serves`);
    return readFile(await updater.downloadTarget(info, join(targetDir, encodeURIComponent(path))));
  };
  const manifest = parseSetManifest(await download(setPath));
  for (const file of manifest.files) await download(file.target);
  return manifest.version;
}

describe('a replica bucket while replication lags', () => {
  it('serves nothing until a whole view has arrived, then the primary\'s timestamp byte for byte, cached for 60 s', async () => {
    first = await commitTestRelease(deps, 'replica-av', '1.0.0', { 'main.sig': 'replica signatures one\n', 'engine.cfg': 'heuristics=on\n' });
    const all = await replicatedKeys(primary);
    expect(all).not.toContain(timestampKey);
    await replicate(primary, replica, all.filter((key) => key !== 'metadata/2.snapshot.json'));
    expect(await promote()).toMatchObject({ servedVersion: undefined, waiting: { missing: ['metadata/2.snapshot.json'] } });
    await expect(served(replicaBucket)).rejects.toThrow();

    await replicate(primary, replica, ['metadata/2.snapshot.json']);
    expect(await promote()).toMatchObject({ promoted: 2, waitingSeconds: 0 });
    expect((await served(replicaBucket)).equals(await served(primaryBucket))).toBe(true);
    const head = await s3.send(new HeadObjectCommand({ Bucket: replicaBucket, Key: timestampKey }));
    expect(head.CacheControl).toBe('public, max-age=60');
    expect(await agentInstalls(first.setPath)).toBe('1.0.0');
  });

  it('keeps serving the previous complete view while a new release\'s file is missing, and moves to the new one once it arrives', async () => {
    const before = await served(replicaBucket);
    const second = await commitTestRelease(deps, 'replica-av', '1.1.0', { 'main.sig': 'replica signatures two\n', 'engine.cfg': 'heuristics=on\n' });
    const lagging = second.keys[0] ?? '';
    // Everything else has arrived: the new views, the snapshot and targets metadata naming the file, the set manifest listing it.
    await replicate(primary, replica, (await replicatedKeys(primary)).filter((key) => key !== lagging));

    const waiting = await promote();
    expect(waiting).toMatchObject({ servedVersion: 2, waiting: { missing: [lagging] } });
    expect(waiting.promoted).toBeUndefined();
    expect((await served(replicaBucket)).equals(before)).toBe(true);
    expect(await agentInstalls(first.setPath)).toBe('1.0.0');
    await expect(agentInstalls(second.setPath)).rejects.toThrow(/not in the targets metadata the replica serves/);

    await replicate(primary, replica, [lagging]);
    const promoted = await promote();
    expect(promoted.promoted).toBe(parseTimestamp(await served(primaryBucket)).signed.version);
    expect((await served(replicaBucket)).equals(await served(primaryBucket))).toBe(true);
    expect(await agentInstalls(second.setPath)).toBe('1.1.0');
  });

  it('never replaces the served timestamp with an older view arriving late', async () => {
    await refreshTimestamp(deps);
    await replicate(primary, replica, await replicatedKeys(primary));
    const newest = (await promote()).servedVersion ?? 0;
    const newestBytes = await served(replicaBucket);
    // An older view written again (replication retried it, late): older than what is served.
    await replicate(primary, replica, [replicaViewKey(newest - 1)]);
    expect(await promote()).toMatchObject({ servedVersion: newest, waitingSeconds: 0 });
    expect((await served(replicaBucket)).equals(newestBytes)).toBe(true);
    expect(parseTimestamp(newestBytes).signed.version).toBe(newest);
  });
});
