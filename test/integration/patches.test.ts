/**
 * Binary patches against the local stack: `signet publish` makes a zstd patch of each
 * changed file from the last K versions, lists it in the set manifest and signs it as a
 * target of its own; an independent TUF client (tuf-js) downloads it with a grant, and
 * `zstd -d --patch-from` turns the base into the new file with it.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { baseRecordCount, versionRecords } from '../../bench/signature-db.ts';
import type { SetManifest } from '#lib/releases/set-manifest.ts';
import type { CliPublish, TufClient } from '#test/support/tuf-client.ts';
import { targetObjectKey } from '#lib/releases/set-manifest.ts';
import { getObject, publishWithCli, putObject, setTargetsOf, stackRepositoryDeps, trustedTargets, tufClient } from '#test/support/tuf-client.ts';

const stack = inject('stack');
const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');
const zstdInstalled = await promisify(execFile)('zstd', ['--version']).then(() => true, () => false);

/** Version `v` of a ~200 KB synthetic signature database (bench/signature-db.ts): each version changes ~2% of the records. */
function database(seed: number, v: number): string {
  return [...versionRecords(seed, baseRecordCount(seed, 200_000), v)].map((r) => `${r}\n`).join('');
}

const dirs: string[] = [];
const clients: TufClient[] = [];
afterAll(async () => {
  await Promise.all([...clients.map((c) => c.dispose()), ...dirs.map((d) => rm(d, { recursive: true, force: true }))]);
});

function published(result: CliPublish): NonNullable<CliPublish['summary']> {
  expect(result.code, result.stderr).toBe(0);
  return result.summary as NonNullable<CliPublish['summary']>;
}

async function verifiedClient(product: string): Promise<TufClient> {
  const c = await tufClient(stack, [product]);
  clients.push(c);
  await c.updater.refresh();
  return c;
}

async function setOf(c: TufClient, product: string, version: string): Promise<SetManifest> {
  const path = (await setTargetsOf(c, product)).find((s) => s.version === version)?.path;
  if (!path) throw new Error(`no set manifest of ${product} ${version}`);
  return c.setManifest(path);
}

/** Applies a patch with the zstd CLI, as docs/tuf-repository.md says a decoder must (window up to 2^31). */
async function applyWithCli(base: string | Buffer, patch: Buffer): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'signet-patch-it-'));
  dirs.push(dir);
  await writeFile(join(dir, 'base'), base);
  await writeFile(join(dir, 'patch'), patch);
  await promisify(execFile)('zstd', ['-q', '-d', '--long=31', `--patch-from=${join(dir, 'base')}`, join(dir, 'patch'), '-o', join(dir, 'out')]);
  return readFile(join(dir, 'out'));
}

describe.skipIf(!zstdInstalled)('signet publish makes binary patches', () => {
  const product = `patch-it-${randomBytes(3).toString('hex')}`;
  const seed = 7;
  const versions = [0, 1, 2, 3, 4].map((v) => ({ 'main.ndb': database(seed, v), 'engine.cfg': `engine ${v}\n` }));

  it('lists a patch of the changed file from the previous version, signed as a target of its own, downloadable with a grant', async () => {
    expect(published(await publishWithCli(stack, product, '1.0.0', versions[0] ?? {}))).toMatchObject({ patches: 0 });
    const second = published(await publishWithCli(stack, product, '1.1.0', versions[1] ?? {}));
    // main.ndb's patch is kept; engine.cfg's (a 9-byte file) is not under half of it.
    expect(second).toMatchObject({ patches: 1, patchesDropped: 1, uploadedFiles: 2 });

    const c = await verifiedClient(product);
    const set = await setOf(c, product, '1.1.0');
    const main = set.files.find((f) => f.path === 'main.ndb');
    const v0 = versions[0]?.['main.ndb'] ?? '';
    const v1 = versions[1]?.['main.ndb'] ?? '';
    expect(main?.sha256).toBe(sha256(v1));
    expect(main?.patches).toHaveLength(1);
    const patch = main?.patches?.[0];
    expect(patch).toMatchObject({ format: 'zstd-patch-from', base: { sha256: sha256(v0) }, result: { sha256: sha256(v1) } });
    expect(patch?.target).toBe(`${product}/${patch?.sha256}/main.ndb.patch`);
    expect(set.files.find((f) => f.path === 'engine.cfg')?.patches).toBeUndefined();
    expect(second.patchBytes).toBe(patch?.length);
    // A few per cent of the file, as the doc's measurement says (~1% on the 60 MB database; small files compress less).
    expect(patch?.length ?? Infinity).toBeLessThan(Buffer.byteLength(v1) * 0.1);

    // Signed: its own kind, its hash and length; then fetched through tuf-js with the grant.
    const entry = (await trustedTargets(c))[patch?.target ?? ''];
    expect(entry?.custom).toEqual({ product, kind: 'patch' });
    expect(entry?.hashes.sha256).toBe(patch?.sha256);
    expect(entry?.length).toBe(patch?.length);
    const bytes = await c.download(patch?.target ?? '');
    expect(sha256(bytes)).toBe(patch?.sha256);
    expect(sha256(await applyWithCli(v0, bytes))).toBe(sha256(v1));
  });

  it('patches from each of the last K versions (default 3), direct; --patch-from-versions sets K, 0 makes none', async () => {
    const third = published(await publishWithCli(stack, product, '1.2.0', versions[2] ?? {}));
    expect(third.patches).toBe(2); // from 1.1.0 and from 1.0.0
    const fourth = published(await publishWithCli(stack, product, '1.3.0', versions[3] ?? {}, ['--patch-from-versions', '1']));
    expect(fourth.patches).toBe(1);
    const c = await verifiedClient(product);
    const set = await setOf(c, product, '1.2.0');
    const bases = set.files.find((f) => f.path === 'main.ndb')?.patches?.map((p) => p.base.sha256).sort();
    expect(bases).toEqual([sha256(versions[0]?.['main.ndb'] ?? ''), sha256(versions[1]?.['main.ndb'] ?? '')].sort());
    // The direct patch from 1.0.0 applies to 1.0.0's file.
    const fromFirst = set.files.find((f) => f.path === 'main.ndb')?.patches?.find((p) => p.base.sha256 === sha256(versions[0]?.['main.ndb'] ?? ''));
    expect(sha256(await applyWithCli(versions[0]?.['main.ndb'] ?? '', await c.download(fromFirst?.target ?? '')))).toBe(sha256(versions[2]?.['main.ndb'] ?? ''));
    const none = published(await publishWithCli(stack, product, '1.4.0', versions[4] ?? {}, ['--patch-from-versions', '0']));
    expect(none).toMatchObject({ patches: 0, patchesDropped: 0 });
  });

  it('a base damaged in the bucket makes no patch: the file is published whole, nothing else changes', async () => {
    const other = `${product}-bad-base`;
    published(await publishWithCli(stack, other, '1.0.0', versions[0] ?? {}));
    const v0 = versions[0]?.['main.ndb'] ?? '';
    const key = targetObjectKey(`${other}/${sha256(v0)}/main.ndb`, sha256(v0));
    const deps = await stackRepositoryDeps(stack);
    try {
      const good = await getObject(deps.s3, stack.bucket, key);
      await putObject(deps.s3, stack.bucket, key, Buffer.concat([good.subarray(0, 100), Buffer.from('tampered'), good.subarray(108)]));
      expect(published(await publishWithCli(stack, other, '1.1.0', versions[1] ?? {}))).toMatchObject({ patches: 0, patchesDropped: 2 });
      await putObject(deps.s3, stack.bucket, key, good);
    } finally {
      deps.destroy();
    }
  });

  it('publishes without patches, saying so in one line, when there is no zstd command', async () => {
    const emptyPath = await mkdtemp(join(tmpdir(), 'signet-no-zstd-'));
    dirs.push(emptyPath);
    const other = `${product}-nz`;
    published(await publishWithCli(stack, other, '1.0.0', versions[0] ?? {}));
    const dir = await mkdtemp(join(tmpdir(), 'signet-publish-nz-'));
    dirs.push(dir);
    const { runSignet } = await import('#test/support/cli.ts');
    for (const [name, content] of Object.entries(versions[1] ?? {})) await writeFile(join(dir, name), content);
    const result = await runSignet(['publish', '--product', other, '--version', '1.1.0', '--dir', dir, '--data-dir', stack.dataDir, '--json'], { ...process.env, PATH: emptyPath }, 120_000);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr.trim().split('\n')).toEqual(['zstd not found: publishing without binary patches (install zstd to make them)']);
    expect(JSON.parse(result.stdout)).toMatchObject({ patches: 0 });
  });
});
