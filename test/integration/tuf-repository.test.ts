/**
 * The signed repository as an independent TUF client (tuf-js) sees it: every published
 * version and file verifies from the trusted root alone, unchanged files are stored
 * once, and the attacks TUF exists for (tampered targets, tampered metadata, rollback,
 * freeze) are refused by the client. Everything tampered with is put back (or healed
 * by the service's timestamp refresh) so the shared stack stays valid for later files.
 */
import { consistentName, targetObjectKey } from '#lib/releases/set-manifest.ts';
import { createHash, randomBytes } from 'node:crypto';
import { LengthOrHashMismatchError } from '@tufjs/models/dist/error.js';
import { BadVersionError, ExpiredMetadataError, RuntimeError } from 'tuf-js/dist/error.js';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import type { SetManifest } from '#lib/releases/set-manifest.ts';
import { createTimestampRefreshHandler } from '#functions/timestamp-refresh/handler.ts';
import { createLogger, logMessages } from '#lib/log.ts';
import { moveSnapshot, refreshTimestamp } from '#lib/releases/repository.ts';
import { EXPIRY_DAYS, expiresIn, newTimestamp, parseSnapshot, parseTimestamp, signMetadata, toBytes } from '#lib/tuf/metadata.ts';
import { demoSetFiles } from '#local/demo-set.ts';
import { tufSigner } from '#local/tuf-keys.ts';
import type { CliPublish, TufClient } from '#test/support/tuf-client.ts';
import { getObject, publishWithCli, putObject, setTargetsOf, stackRepositoryDeps, trustedTargets, tufClient } from '#test/support/tuf-client.ts';

const stack = inject('stack');
const PRODUCT = 'tuf-test-av';
const RETENTION_PRODUCT = 'tuf-retention-av';
const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

const v1Files = { 'main.sig': `main signatures ${randomBytes(8).toString('hex')}\n`.repeat(50), 'daily.sig': 'daily v1\n'.repeat(20), 'engine.cfg': 'heuristics=on\n' };
const v2Files = { ...v1Files, 'daily.sig': 'daily v2\n'.repeat(20) };

let deps: Awaited<ReturnType<typeof stackRepositoryDeps>>;
const clients: TufClient[] = [];
let first: CliPublish;
let second: CliPublish;

async function client(products: readonly string[] = [PRODUCT]): Promise<TufClient> {
  const c = await tufClient(stack, products);
  clients.push(c);
  return c;
}

function expectPublished(result: CliPublish): NonNullable<CliPublish['summary']> {
  expect(result.code, result.stderr).toBe(0);
  expect(result.summary).toBeDefined();
  return result.summary as NonNullable<CliPublish['summary']>;
}

/** Downloads a set manifest through TUF, then every file it lists; checks each against the expected bytes. */
async function verifyVersion(c: TufClient, setPath: string, expected: Record<string, string | Buffer>): Promise<SetManifest> {
  const info = await c.updater.getTargetInfo(setPath);
  expect(info, `${setPath} in the targets metadata`).toBeDefined();
  const manifest = await c.setManifest(setPath);
  expect(manifest.files.map((f) => f.path).sort()).toEqual(Object.keys(expected).sort());
  for (const file of manifest.files) {
    const bytes = await c.download(file.target);
    expect(sha256(bytes)).toBe(file.sha256);
    expect(bytes.equals(Buffer.from(expected[file.path] ?? ''))).toBe(true);
    expect((await c.updater.getTargetInfo(file.target))?.custom).toEqual({ product: manifest.product, kind: 'file' });
  }
  return manifest;
}

beforeAll(async () => {
  deps = await stackRepositoryDeps(stack);
  first = await publishWithCli(stack, PRODUCT, '1.0.0', v1Files);
  second = await publishWithCli(stack, PRODUCT, '1.1.0', v2Files);
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  deps?.destroy();
});

describe('an independent TUF client (tuf-js) verifying the repository', () => {
  it('verifies both published versions from the trusted root at tuf-js\'s default settings: set manifests and every file they list, each fetched at its consistent-snapshot name', async () => {
    const one = expectPublished(first);
    const two = expectPublished(second);
    const c = await client();
    await c.updater.refresh();
    for (const [summary, files] of [[one, v1Files], [two, v2Files]] as const) {
      const info = await c.updater.getTargetInfo(summary.setManifest);
      expect(info?.custom).toEqual({ product: PRODUCT, kind: 'set', version: summary.version });
      const manifest = await verifyVersion(c, summary.setManifest, files);
      expect(manifest).toMatchObject({ product: PRODUCT, version: summary.version });
    }
    expect((await setTargetsOf(c, PRODUCT)).map((s) => s.version).sort()).toEqual(['1.0.0', '1.1.0']);
    // Default settings prefix the basename with the hash: `<dir>/<sha256>.<basename>`, where the objects are.
    const asked = new Set(c.targetUrls);
    for (const summary of [one, two]) {
      const manifest = await c.setManifest(summary.setManifest);
      for (const file of manifest.files) expect(asked.has(`${stack.baseUrl}/targets/${consistentName(file.target, file.sha256)}`), file.target).toBe(true);
    }
  });

  it('stores an unchanged file once: the same target path in both versions, only the changed file uploaded again', async () => {
    const c = await client();
    await c.updater.refresh();
    const [m1, m2] = await Promise.all([c.setManifest(expectPublished(first).setManifest), c.setManifest(expectPublished(second).setManifest)]);
    const byPath = (m: SetManifest) => Object.fromEntries(m.files.map((f) => [f.path, f.target]));
    expect(byPath(m2)['main.sig']).toBe(byPath(m1)['main.sig']);
    expect(byPath(m2)['engine.cfg']).toBe(byPath(m1)['engine.cfg']);
    expect(byPath(m2)['daily.sig']).not.toBe(byPath(m1)['daily.sig']);
    expect(expectPublished(second)).toMatchObject({ files: 3, uploadedFiles: 1, uploadedBytes: Buffer.byteLength(v2Files['daily.sig']) });
    // One target entry per distinct file: 3 of 1.0.0, 1 new in 1.1.0, plus two set manifests.
    const ours = Object.values(await trustedTargets(c)).filter((t) => (t.custom as { product?: string }).product === PRODUCT);
    const isPatch = (t: (typeof ours)[number]) => (t.custom as { kind?: string }).kind === 'patch';
    expect(ours.filter((t) => !isPatch(t))).toHaveLength(4 + 2);
    // Besides them, the binary patches 1.1.0 lists (daily.sig from 1.0.0's), targets of their own kind.
    expect(ours.filter(isPatch).map((t) => t.path)).toEqual(m2.files.flatMap((f) => (f.patches ?? []).map((p) => p.target)));
  });

  it('verifies the demo set the first start published (demo-av 1.0.0)', async () => {
    const c = await client(['demo-av']);
    await c.updater.refresh();
    const demo = (await setTargetsOf(c, 'demo-av')).find((s) => s.version === '1.0.0');
    expect(demo).toBeDefined();
    await verifyVersion(c, demo?.path ?? '', demoSetFiles);
  });
});

describe('attacks the client refuses', () => {
  it('refuses a target file whose bytes were replaced in the bucket (hash mismatch), and takes it again once restored', async () => {
    const manifest = await (async () => {
      const c = await client();
      await c.updater.refresh();
      return c.setManifest(expectPublished(second).setManifest);
    })();
    const file = manifest.files.find((f) => f.path === 'main.sig');
    const key = targetObjectKey(file?.target ?? '', file?.sha256 ?? '');
    const original = await getObject(deps.s3, stack.bucket, key);
    const forged = Buffer.from(original.toString('utf8').replace('main signatures', 'evil signatures'));
    expect(forged.length).toBe(original.length);
    await putObject(deps.s3, stack.bucket, key, forged);
    try {
      const victim = await client();
      await victim.updater.refresh();
      await expect(victim.download(file?.target ?? '')).rejects.toBeInstanceOf(LengthOrHashMismatchError);
      await expect(victim.download(file?.target ?? '')).rejects.toThrow(/hash/i);
      // A longer forgery is cut off at the length the metadata vouches for.
      await putObject(deps.s3, stack.bucket, key, Buffer.concat([original, Buffer.from('appended payload')]));
      await expect(victim.download(file?.target ?? '')).rejects.toThrow(/Max length reached/);
    } finally {
      await putObject(deps.s3, stack.bucket, key, original);
    }
    const after = await client();
    await after.updater.refresh();
    expect(sha256(await after.download(file?.target ?? ''))).toBe(file?.sha256);
  });

  it('refuses targets metadata with one byte changed (signature check fails)', async () => {
    const state = await deps.store.repositoryState();
    const key = `metadata/${state?.targetsVersion}.targets.json`;
    const original = await getObject(deps.s3, stack.bucket, key);
    // Change one hex digit of a hash inside the signed part: still valid JSON, no longer what was signed.
    const text = original.toString('utf8');
    const at = text.indexOf('"sha256":"') + '"sha256":"'.length;
    const forged = Buffer.from(text.slice(0, at) + (text[at] === '0' ? '1' : '0') + text.slice(at + 1));
    expect(forged.length).toBe(original.length);
    await putObject(deps.s3, stack.bucket, key, forged);
    try {
      const victim = await client();
      const refused = victim.updater.refresh();
      await expect(refused).rejects.toBeInstanceOf(RuntimeError);
      await expect(refused).rejects.toThrow(/Unable to load targets.*targets was signed by 0\/1 keys/);
    } finally {
      await putObject(deps.s3, stack.bucket, key, original);
    }
    const after = await client();
    await expect(after.updater.refresh()).resolves.toBeUndefined();
  });

  it('refuses a replayed older timestamp.json once it has seen a newer one (rollback)', async () => {
    const old = await getObject(deps.s3, stack.bucket, 'metadata/timestamp.json');
    await refreshTimestamp(deps); // the repository moves on: a newer timestamp
    const c = await client();
    await c.updater.refresh();
    const seen = parseTimestamp(await getObject(deps.s3, stack.bucket, 'metadata/timestamp.json')).signed.version;
    expect(parseTimestamp(old).signed.version).toBeLessThan(seen);
    await putObject(deps.s3, stack.bucket, 'metadata/timestamp.json', old);
    try {
      const again = c.reopen(); // the same client's next poll: it remembers the newer timestamp
      const refused = again.updater.refresh();
      await expect(refused).rejects.toBeInstanceOf(BadVersionError);
      await expect(refused).rejects.toThrow(`New timestamp version ${parseTimestamp(old).signed.version} is less than current version ${seen}`);
    } finally {
      await refreshTimestamp(deps); // heals: a new timestamp for the current snapshot
    }
    await expect(c.reopen().updater.refresh()).resolves.toBeUndefined();
  });

  it('refuses a timestamp that points back at an older snapshot, even with a higher version (snapshot rollback)', async () => {
    const c = await client();
    await c.updater.refresh();
    const state = await deps.store.repositoryState();
    const olderSnapshot = (state?.snapshotVersion ?? 0) - 1;
    expect(olderSnapshot).toBeGreaterThan(0);
    const snapshotBytes = await getObject(deps.s3, stack.bucket, `metadata/${olderSnapshot}.snapshot.json`);
    const forged = await signMetadata(newTimestamp(snapshotBytes, olderSnapshot, (state?.timestampVersion ?? 0) + 1, new Date()), [await tufSigner(stack.dataDir, 'timestamp')]);
    await putObject(deps.s3, stack.bucket, 'metadata/timestamp.json', toBytes(forged));
    try {
      const refused = c.reopen().updater.refresh();
      await expect(refused).rejects.toBeInstanceOf(BadVersionError);
      await expect(refused).rejects.toThrow(`New snapshot version ${olderSnapshot} is less than current version ${state?.snapshotVersion}`);
    } finally {
      await refreshTimestamp(deps);
    }
    await expect(c.reopen().updater.refresh()).resolves.toBeUndefined();
  });

  it('refuses an expired timestamp.json (freeze), and the service\'s timestamp refresh heals the repository', async () => {
    const state = await deps.store.repositoryState();
    const snapshotVersion = state?.snapshotVersion ?? 0;
    const snapshotBytes = await getObject(deps.s3, stack.bucket, `metadata/${snapshotVersion}.snapshot.json`);
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    const expired = await signMetadata(newTimestamp(snapshotBytes, snapshotVersion, (state?.timestampVersion ?? 0) + 1, twoDaysAgo), [await tufSigner(stack.dataDir, 'timestamp')]);
    expect(expired.signed.isExpired(new Date())).toBe(true);
    await putObject(deps.s3, stack.bucket, 'metadata/timestamp.json', toBytes(expired));
    try {
      const refused = (await client()).updater.refresh();
      await expect(refused).rejects.toBeInstanceOf(ExpiredMetadataError);
      await expect(refused).rejects.toThrow('Final timestamp.json is expired');
    } finally {
      await refreshTimestamp(deps);
    }
    const healed = await client();
    await expect(healed.updater.refresh()).resolves.toBeUndefined();
    expect((await healed.updater.getTargetInfo(expectPublished(second).setManifest))?.custom).toMatchObject({ version: '1.1.0' });
  });
});

describe('snapshot expiry', () => {
  it('refuses an expired snapshot behind a fresh timestamp (a month of timestamp re-signs alone), and the scheduled refresh renews it', async () => {
    // A snapshot signed 31 days ago over the current targets, made the repository's: what a
    // month without a publish or rollout change leaves when only the timestamp is re-signed.
    const monthAgo = new Date(Date.now() - 31 * 86_400_000);
    const stale = await moveSnapshot({ ...deps, now: () => monthAgo });
    const staleVersion = stale?.snapshotVersion ?? 0;
    expect(staleVersion).toBeGreaterThan(0);
    await refreshTimestamp(deps);
    const refused = (await client()).updater.refresh();
    await expect(refused).rejects.toBeInstanceOf(RuntimeError);
    await expect(refused).rejects.toThrow(/Unable to load snapshot metadata error .*snapshot\.json is expired/);

    // The scheduled function, as the local stack builds it, over the same stack.
    const logger = createLogger('timestamp-refresh-test', { logLevel: 'SILENT' });
    const info = vi.spyOn(logger, 'info');
    const warn = vi.spyOn(logger, 'warn');
    const started = new Date();
    const result = await createTimestampRefreshHandler({ ...deps, logger })(undefined);
    expect(info).toHaveBeenCalledWith(logMessages.snapshotRenewed, { snapshotVersion: staleVersion + 1 });
    expect(warn).not.toHaveBeenCalled(); // targets and root have most of a year left
    const state = await deps.store.repositoryState();
    expect(state).toMatchObject({ snapshotVersion: staleVersion + 1, timestampVersion: result.timestampVersion });
    const renewed = parseSnapshot(await getObject(deps.s3, stack.bucket, `metadata/${staleVersion + 1}.snapshot.json`));
    expect(Date.parse(renewed.signed.expires)).toBeGreaterThanOrEqual(Date.parse(expiresIn(EXPIRY_DAYS.snapshot, started)));
    expect(renewed.signed.meta['targets.json']?.version).toBe(state?.targetsVersion);
    expect(parseTimestamp(await getObject(deps.s3, stack.bucket, 'metadata/timestamp.json')).signed.snapshotMeta.version).toBe(staleVersion + 1);

    const healed = await client();
    await expect(healed.updater.refresh()).resolves.toBeUndefined();
    await verifyVersion(healed, expectPublished(second).setManifest, v2Files);
    // The next run has nothing to renew: the snapshot agents watch stays put.
    await createTimestampRefreshHandler({ ...deps, logger })(undefined);
    expect((await deps.store.repositoryState())?.snapshotVersion).toBe(staleVersion + 1);
  });
});

describe('publishing rules', () => {
  it('refuses the same version with other content: CONFLICT, non-zero exit, one line', async () => {
    const result = await publishWithCli(stack, PRODUCT, '1.1.0', { ...v2Files, 'engine.cfg': 'heuristics=off\n' });
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/CONFLICT: tuf-test-av 1\.1\.0 is already published with other content/);
  });

  it('refuses a version lower than the latest published', async () => {
    const result = await publishWithCli(stack, PRODUCT, '1.0.5', v1Files);
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/CONFLICT: tuf-test-av 1\.0\.5 is not above the latest published version 1\.1\.0/);
  });

  it('answers the same version with the same content as already published, changing nothing', async () => {
    const before = await deps.store.repositoryState();
    const result = expectPublished(await publishWithCli(stack, PRODUCT, '1.1.0', v2Files));
    expect(result).toMatchObject({ alreadyPublished: true, uploadedFiles: 0, setManifest: expectPublished(second).setManifest, targetsVersion: expectPublished(second).targetsVersion });
    expect((await deps.store.repositoryState())?.targetsVersion).toBe(before?.targetsVersion);
  });

  it('keeps the newest 5 versions: a sixth publish drops the oldest set manifest and the files only it used', async () => {
    const versions = ['1.0.0', '1.0.1', '1.0.2', '1.0.3', '1.0.4', '1.0.5'];
    const setPaths: Record<string, string> = {};
    for (const version of versions) {
      const files = { 'common.sig': 'shared by every version\n', [`only-${version}.sig`]: `only in ${version}\n` };
      setPaths[version] = expectPublished(await publishWithCli(stack, RETENTION_PRODUCT, version, files, ['--retention', '5'])).setManifest;
    }
    const c = await client([RETENTION_PRODUCT]);
    await c.updater.refresh();
    expect((await setTargetsOf(c, RETENTION_PRODUCT)).map((s) => s.version).sort()).toEqual(versions.slice(1));
    expect(await c.updater.getTargetInfo(setPaths['1.0.0'] ?? '')).toBeUndefined();
    const targets = Object.values(await trustedTargets(c)).filter((t) => (t.custom as { product?: string }).product === RETENTION_PRODUCT);
    const fileNames = targets.filter((t) => (t.custom as { kind?: string }).kind === 'file').map((t) => t.path.split('/').pop()).sort();
    expect(fileNames).toEqual(['common.sig', ...versions.slice(1).map((v) => `only-${v}.sig`)].sort());
    // What stays still verifies, the shared file included.
    for (const version of versions.slice(1)) {
      await verifyVersion(c, setPaths[version] ?? '', { 'common.sig': 'shared by every version\n', [`only-${version}.sig`]: `only in ${version}\n` });
    }
  }, 180_000);
});
