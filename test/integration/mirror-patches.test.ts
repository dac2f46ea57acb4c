/**
 * Binary patches through a site mirror: a sync holds and serves the patches that the set
 * manifests it holds list, an agent behind it rebuilds the changed file from one, and a
 * bundle carries them into an isolated segment, where an agent does the same.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { UpdateResult } from '../../agent/index.ts';
import { register, update } from '../../agent/index.ts';
import { baseRecordCount, versionRecords } from '../../bench/signature-db.ts';
import { exportFromMirror, importIntoMirror, startMirror } from '../../mirror/index.ts';
import type { RunningMirror } from '../../mirror/index.ts';
import { readServed } from '../../mirror/state.ts';
import { consistentName } from '#lib/releases/set-manifest.ts';
import { publishVersion } from '#test/support/delivery.ts';
import { createTestLicense } from '#test/support/licensing.ts';

const stack = inject('stack');
const root = join(stack.dataDir, 'root.json');
const product = `mirror-patch-${randomBytes(3).toString('hex')}`;
const zstdInstalled = await promisify(execFile)('zstd', ['--version']).then(() => true, () => false);
const sha256 = (b: string) => createHash('sha256').update(b).digest('hex');
const database = (v: number) => [...versionRecords(31, baseRecordCount(31, 200_000), v)].map((r) => `${r}\n`).join('');
const setOf = (v: number) => ({ 'main.ndb': database(v), 'engine.cfg': `engine ${v}\n` });
const started: RunningMirror[] = [];
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'signet-mirror-patch-'));
  dirs.push(dir);
  return dir;
}

async function mirror(options: { upstream?: string; licenseKey?: string; seats?: number }): Promise<RunningMirror & { dir: string }> {
  const dir = await tempDir();
  const running = await startMirror({ dir, port: 0, host: '127.0.0.1', root, pollSeconds: 86_400, env: {}, ...options });
  started.push(running);
  return Object.assign(running, { dir });
}

async function agentThrough(server: string, licenseKey: string): Promise<string> {
  const dir = await tempDir();
  await register({ dir, server, licenseKey, product, root, machineId: `m-${randomUUID()}`, http: { env: {} } });
  return dir;
}

const installed = (r: UpdateResult) => {
  if (r.result !== 'installed') throw new Error(`expected an install, got ${JSON.stringify(r)}`);
  return r;
};

afterAll(async () => {
  for (const m of started) await m.stop().catch(() => undefined);
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe.skipIf(!zstdInstalled)('binary patches through a mirror', () => {
  let licenseKey: string;
  let site: RunningMirror & { dir: string };
  let agent: string;

  beforeAll(async () => {
    await publishVersion(product, '1.0.0', setOf(0), ['--channel', 'stable']);
    ({ licenseKey } = await createTestLicense({ products: [product], seats: 20, expires: new Date(Date.now() + 365 * 86_400_000).toISOString() }));
    site = await mirror({ upstream: stack.baseUrl, licenseKey, seats: 5 });
    agent = await agentThrough(site.url, licenseKey);
    expect(installed(await update({ dir: agent, http: { env: {} } })).version).toBe('1.0.0');
  }, 120_000);

  it('holds and serves the patches of the versions it holds; an agent behind it rebuilds the changed file from one', async () => {
    await publishVersion(product, '1.1.0', setOf(1), ['--channel', 'stable']);
    await site.sync();
    const served = await readServed(site.dir);
    const patches = Object.entries(served?.targets ?? {}).filter(([name]) => name.endsWith('.main.ndb.patch'));
    expect(patches).toHaveLength(1);
    const [name, patch] = patches[0] ?? ['', { sha256: '', length: 0 }];
    expect(name).toBe(consistentName(`${product}/${patch.sha256}/main.ndb.patch`, patch.sha256));
    // In the mirror's store, verified as it arrived.
    expect(createHash('sha256').update(await readFile(join(site.dir, 'store', patch.sha256))).digest('hex')).toBe(patch.sha256);

    const result = installed(await update({ dir: agent, http: { env: {} } }));
    expect(result).toMatchObject({ version: '1.1.0', patchedFiles: 1, patchBytes: patch.length, patchFallbacks: [], downloadedFiles: 1 });
    expect(await readFile(join(agent, 'current', 'main.ndb'), 'utf8')).toBe(database(1));
  });

  it('carries them in a bundle into an isolated segment, where an agent applies one too', async () => {
    const isolated = await mirror({});
    // An agent of the isolated segment at 1.0.0 first: a bundle of 1.0.0 alone.
    const before = join(await tempDir(), 'first.bundle');
    await exportFromMirror(site.dir, { out: before, forMirror: isolated.config.mirrorId, seats: 3, validDays: 10, env: {} });
    expect(await importIntoMirror(isolated.dir, before)).toMatchObject({ kind: 'bundle' });
    await isolated.reload();
    const far = await agentThrough(isolated.url, licenseKey);
    // The bundle holds 1.0.0 and 1.1.0 (the channel's previous and head): the agent takes 1.1.0 whole, then...
    expect(installed(await update({ dir: far, http: { env: {} } })).version).toBe('1.1.0');
    // ...1.2.0 comes by a second bundle, with its patches, and is rebuilt from 1.1.0's file.
    await publishVersion(product, '1.2.0', setOf(2), ['--channel', 'stable']);
    await site.sync();
    const next = join(await tempDir(), 'next.bundle');
    await exportFromMirror(site.dir, { out: next, forMirror: isolated.config.mirrorId, seats: 3, validDays: 10, env: {} });
    expect(await importIntoMirror(isolated.dir, next)).toMatchObject({ kind: 'bundle' });
    await isolated.reload();
    const patches = Object.keys((await readServed(isolated.dir))?.targets ?? {}).filter((n) => n.endsWith('.patch'));
    expect(patches.length).toBeGreaterThanOrEqual(2); // 1.1.0's from 1.0.0; 1.2.0's from 1.1.0 and 1.0.0
    const result = installed(await update({ dir: far, http: { env: {} } }));
    expect(result).toMatchObject({ version: '1.2.0', patchedFiles: 1, patchFallbacks: [] });
    expect(sha256(await readFile(join(far, 'current', 'main.ndb'), 'utf8'))).toBe(sha256(database(2)));
  });
});
