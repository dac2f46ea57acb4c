/**
 * The reference agent applying binary patches against the local stack (docs/agent-protocol.md,
 * step 5a): one and three versions behind it rebuilds the changed file from the base in its
 * store and a patch, verified against the signed file. A tampered patch, a patch whose base
 * it lacks and a patch whose result does not match each end in the whole file, installed
 * and verified; a failed apply with no whole file to fall back on leaves the installed set
 * as it was. An agent that knows nothing of patches (patch step off; or tuf-js alone
 * reading the set manifest's pre-patch fields) installs a version that has them.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AgentError, UpdateResult } from '../../agent/index.ts';
import { readState, register, update } from '../../agent/index.ts';
import { baseRecordCount, versionRecords } from '../../bench/signature-db.ts';
import { s3Uploader } from '#lib/aws/upload.ts';
import { publish } from '#lib/releases/publish.ts';
import { commitRelease } from '#lib/releases/repository.ts';
import type { SetManifest } from '#lib/releases/set-manifest.ts';
import { targetObjectKey } from '#lib/releases/set-manifest.ts';
import type { Patcher } from '#lib/releases/zstd-patch.ts';
import { zstdPatcher } from '#lib/releases/zstd-patch.ts';
import { tufSigner } from '#local/tuf-keys.ts';
import { promoteTo } from '#test/support/delivery.ts';
import { runSignet } from '#test/support/cli.ts';
import { createTestLicense } from '#test/support/licensing.ts';
import type { TufClient } from '#test/support/tuf-client.ts';
import { getObject, publishWithCli, putObject, setTargetsOf, stackRepositoryDeps, tufClient } from '#test/support/tuf-client.ts';

const stack = inject('stack');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const patcher = await zstdPatcher();
const fastBackoff = { attempts: 2, baseMs: 20, capMs: 50 };

/** Version `v` of a ~300 KB synthetic signature database (bench/signature-db.ts). */
const database = (v: number) => [...versionRecords(23, baseRecordCount(23, 300_000), v)].map((r) => `${r}\n`).join('');
const setOf = (v: number) => ({ 'main.ndb': database(v), 'engine.cfg': `engine ${v}\n` });

const dirs: string[] = [];
const clients: TufClient[] = [];
let deps: Awaited<ReturnType<typeof stackRepositoryDeps>>;

beforeAll(async () => {
  deps = await stackRepositoryDeps(stack);
});
afterAll(async () => {
  await Promise.all([...clients.map((c) => c.dispose()), ...dirs.map((d) => rm(d, { recursive: true, force: true }))]);
  deps?.destroy();
});

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

async function publishCli(product: string, version: string, files: Record<string, string>): Promise<void> {
  const result = await publishWithCli(stack, product, version, files, ['--channel', 'stable']);
  expect(result.code, result.stderr).toBe(0);
}

/** `publish()` in-process with another patcher (one that makes a bad patch, signed all the same), then promoted. */
async function publishWithPatcher(product: string, version: string, files: Record<string, string>, bad: Patcher): Promise<void> {
  const dir = await tempDir('signet-bad-patch-');
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  const summary = await publish(
    {
      objects: deps.objects,
      upload: s3Uploader(deps.s3, stack.bucket),
      repository: {
        targetsVersion: async () => (await deps.store.repositoryState())?.targetsVersion ?? 0,
        commit: (body) => commitRelease(deps, body, 'arn:aws:iam::000000000000:user/agent-patches-test'),
      },
      targetsSigner: await tufSigner(stack.dataDir, 'targets'),
      patcher: bad,
      now: () => new Date(),
    },
    { product, version, dir, patchFromVersions: 1 },
  );
  expect(summary.patches).toBe(1);
  await promoteTo(product, 'stable', version, 100);
}

async function agentAt(product: string, licenseKey: string): Promise<string> {
  const dir = await tempDir('signet-agent-patch-');
  await register({ dir, server: stack.baseUrl, licenseKey, product, root: join(stack.dataDir, 'root.json'), machineId: `m-${randomUUID()}`, http: { env: {}, backoff: fastBackoff } });
  return dir;
}

const installed = (r: UpdateResult) => {
  if (r.result !== 'installed') throw new Error(`expected an install, got ${JSON.stringify(r)}`);
  return r;
};

async function currentFiles(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(join(dir, 'current'))).sort()) out[name] = await readFile(join(dir, 'current', name), 'utf8');
  return out;
}

async function manifestOf(product: string, version: string): Promise<SetManifest> {
  const c = await tufClient(stack, [product]);
  clients.push(c);
  await c.updater.refresh();
  const path = (await setTargetsOf(c, product)).find((s) => s.version === version)?.path ?? '';
  return c.setManifest(path);
}

const mainPatches = (m: SetManifest) => m.files.find((f) => f.path === 'main.ndb')?.patches ?? [];

describe.skipIf(!patcher)('the reference agent applies binary patches', () => {
  const product = `agent-patch-${randomBytes(3).toString('hex')}`;
  let licenseKey: string;
  let oneBehind: string;
  let threeBehind: string;

  beforeAll(async () => {
    ({ licenseKey } = await createTestLicense({ products: [product], seats: 20 }));
    await publishCli(product, '1.0.0', setOf(0));
    oneBehind = await agentAt(product, licenseKey);
    threeBehind = await agentAt(product, licenseKey);
    for (const dir of [oneBehind, threeBehind]) expect(installed(await update({ dir, http: { env: {} } })).version).toBe('1.0.0');
  }, 120_000);

  it('one version behind: rebuilds the changed file from a patch, verified, and downloads only the small file whole', async () => {
    await publishCli(product, '1.1.0', setOf(1));
    const result = installed(await update({ dir: oneBehind, http: { env: {} } }));
    const patch = mainPatches(await manifestOf(product, '1.1.0'))[0];
    expect(result).toMatchObject({ version: '1.1.0', patchedFiles: 1, downloadedFiles: 1, reusedFiles: 0, patchFallbacks: [], patchBytes: patch?.length });
    expect(result.downloadedBytes).toBe(Buffer.byteLength('engine 1\n'));
    expect(await currentFiles(oneBehind)).toEqual(setOf(1));
    // The patch is not kept in the store once applied; the base went with the old set.
    const store = await readdir(join(oneBehind, 'store'));
    expect(store).not.toContain(patch?.sha256);
    expect(store).not.toContain(sha256(database(0)));
    console.log(`[patches] 1.0.0 -> 1.1.0: a ${patch?.length}-byte patch for a ${Buffer.byteLength(database(1))}-byte file`);
  });

  it('three versions behind: the direct patch from its version, one download, one apply', async () => {
    await publishCli(product, '1.2.0', setOf(2));
    await publishCli(product, '1.3.0', setOf(3));
    const patches = mainPatches(await manifestOf(product, '1.3.0'));
    expect(patches.map((p) => p.base.sha256).sort()).toEqual([0, 1, 2].map((v) => sha256(database(v))).sort());
    const fromFirst = patches.find((p) => p.base.sha256 === sha256(database(0)));
    const result = installed(await update({ dir: threeBehind, http: { env: {} } }));
    expect(result).toMatchObject({ version: '1.3.0', previousVersion: '1.0.0', patchedFiles: 1, downloadedFiles: 1, patchFallbacks: [], patchBytes: fromFirst?.length });
    expect(await currentFiles(threeBehind)).toEqual(setOf(3));
    // And the one-behind agent, now two behind, too.
    expect(installed(await update({ dir: oneBehind, http: { env: {} } }))).toMatchObject({ version: '1.3.0', patchedFiles: 1 });
    expect(await currentFiles(oneBehind)).toEqual(setOf(3));
  });

  it('a tampered patch falls back to the whole file; with the whole file tampered too, the installed set stays as it was', async () => {
    await publishCli(product, '1.4.0', setOf(4));
    const patch = mainPatches(await manifestOf(product, '1.4.0')).find((p) => p.base.sha256 === sha256(database(3)));
    const mainSha = sha256(database(4));
    const patchKey = targetObjectKey(patch?.target ?? '', patch?.sha256 ?? '');
    const fileKey = targetObjectKey(`${product}/${mainSha}/main.ndb`, mainSha);
    const [patchBytes, fileBytes] = await Promise.all([getObject(deps.s3, stack.bucket, patchKey), getObject(deps.s3, stack.bucket, fileKey)]);
    const flip = (b: Buffer) => Buffer.from(b.map((x, i) => (i === Math.floor(b.length / 2) ? x ^ 0xff : x)));
    try {
      await putObject(deps.s3, stack.bucket, patchKey, flip(patchBytes));
      await putObject(deps.s3, stack.bucket, fileKey, flip(fileBytes));
      const error = await update({ dir: oneBehind, http: { env: {}, backoff: fastBackoff } }).catch((e: unknown) => e);
      expect((error as AgentError).code).toBe('VERIFICATION_FAILED');
      expect(await currentFiles(oneBehind)).toEqual(setOf(3));
      expect((await readState(oneBehind))?.installed?.version).toBe('1.3.0');

      await putObject(deps.s3, stack.bucket, fileKey, fileBytes); // the whole file is good again; the patch is not
      const result = installed(await update({ dir: oneBehind, http: { env: {}, backoff: fastBackoff } }));
      // engine.cfg came into the store in the failed attempt: main.ndb alone is downloaded now, whole.
      expect(result).toMatchObject({ version: '1.4.0', patchedFiles: 0, downloadedFiles: 1, downloadedBytes: Buffer.byteLength(database(4)) });
      expect(result.patchFallbacks).toEqual([expect.stringMatching(/^main\.ndb: .*does not match the signed targets metadata/)]);
      expect(await currentFiles(oneBehind)).toEqual(setOf(4));
    } finally {
      await putObject(deps.s3, stack.bucket, patchKey, patchBytes);
      await putObject(deps.s3, stack.bucket, fileKey, fileBytes);
    }
  });

  it('a patch whose base the store lacks is not tried: the whole file, verified', async () => {
    // threeBehind holds 1.3.0; its store loses main.ndb (the installed set keeps its own link).
    await rm(join(threeBehind, 'store', sha256(database(3))), { force: true });
    const result = installed(await update({ dir: threeBehind, http: { env: {} } }));
    expect(result).toMatchObject({ version: '1.4.0', patchedFiles: 0, patchBytes: 0, downloadedFiles: 2, patchFallbacks: [] });
    expect(await currentFiles(threeBehind)).toEqual(setOf(4));
  });

  it('a signed patch whose result does not match the file, or that the decoder refuses, falls back to the whole file', async () => {
    const dir = await tempDir('signet-bad-patch-src-');
    // Patches of another content (one byte changed, same length): valid frames, the wrong result.
    const wrongResult: Patcher = async (base, target, out) => {
      const other = Buffer.from(await readFile(target));
      other[10] = (other[10] as number) ^ 1;
      await writeFile(join(dir, 'other'), other);
      await patcher?.(base, join(dir, 'other'), out);
    };
    const agent = await agentAt(product, licenseKey);
    expect(installed(await update({ dir: agent, http: { env: {} } })).version).toBe('1.4.0');
    await publishWithPatcher(product, '1.5.0', setOf(5), wrongResult);
    const first = installed(await update({ dir: agent, http: { env: {} } }));
    expect(first).toMatchObject({ version: '1.5.0', patchedFiles: 0, downloadedFiles: 2 });
    expect(first.patchFallbacks).toEqual([expect.stringMatching(/^main\.ndb: the patched file does not match the signed file/)]);
    expect(await currentFiles(agent)).toEqual(setOf(5));

    // A frame with a good header and a damaged body: the decoder refuses it.
    const refused: Patcher = async (base, target, out) => {
      await patcher?.(base, target, out);
      const bytes = await readFile(out);
      for (let i = 24; i < bytes.length; i += 5) bytes[i] = (bytes[i] as number) ^ 0x5a;
      await writeFile(out, bytes);
    };
    await publishWithPatcher(product, '1.6.0', setOf(6), refused);
    const second = installed(await update({ dir: agent, http: { env: {} } }));
    expect(second).toMatchObject({ version: '1.6.0', patchedFiles: 0, downloadedFiles: 2 });
    expect(second.patchFallbacks).toHaveLength(1);
    expect(await currentFiles(agent)).toEqual(setOf(6));
  });

  it('an agent that knows nothing of patches installs a version that lists them: patch step off, and tuf-js alone', async () => {
    const agent = await agentAt(product, licenseKey);
    expect(installed(await update({ dir: agent, http: { env: {} } })).version).toBe('1.6.0');
    await publishCli(product, '1.7.0', setOf(7));
    const manifest = await manifestOf(product, '1.7.0');
    expect(mainPatches(manifest).length).toBeGreaterThan(0);
    const result = installed(await update({ dir: agent, http: { env: {} }, patches: false }));
    expect(result).toMatchObject({ version: '1.7.0', patchedFiles: 0, patchBytes: 0, downloadedFiles: 2 });
    expect(await currentFiles(agent)).toEqual(setOf(7));

    // tuf-js at its defaults, reading the set manifest as a pre-patch parser does (path, target, length, sha256 only).
    const c = await tufClient(stack, [product]);
    clients.push(c);
    await c.updater.refresh();
    const path = (await setTargetsOf(c, product)).find((s) => s.version === '1.7.0')?.path ?? '';
    const raw = JSON.parse((await c.download(path)).toString()) as { files: Array<{ path: string; target: string; length: number; sha256: string }> };
    const files: Record<string, string> = {};
    for (const { path: name, target, length, sha256: hash } of raw.files) {
      const bytes = await c.download(target);
      expect(bytes.length).toBe(length);
      expect(sha256(bytes)).toBe(hash);
      files[name] = bytes.toString();
    }
    expect(files).toEqual(setOf(7));
  });

  it('signet agent update --no-patches and --patch-max-mb: the whole file, and the patch never fetched', async () => {
    const agent = await agentAt(product, licenseKey);
    expect(installed(await update({ dir: agent, http: { env: {} } })).version).toBe('1.7.0');
    const bad = await runSignet(['agent', 'update', '--dir', agent, '--patch-max-mb', '0'], { ...process.env, NO_PROXY: '*' });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--patch-max-mb must be a size in MiB from 1 to/);

    // The file (about 300 kB) is over a limit of one byte: given up before the patch is fetched.
    await publishCli(product, '1.8.0', setOf(8));
    const capped = installed(await update({ dir: agent, http: { env: {} }, patchMaxFileBytes: 1 }));
    expect(capped).toMatchObject({ version: '1.8.0', patchedFiles: 0, patchBytes: 0, downloadedFiles: 2 });
    expect(capped.patchFallbacks).toEqual([expect.stringMatching(/^main\.ndb: \d+ bytes is over the patch size limit of 1 bytes/)]);

    await publishCli(product, '1.9.0', setOf(9));
    const off = await runSignet(['agent', 'update', '--dir', agent, '--json'], { ...process.env, NO_PROXY: '*', SIGNET_NO_PATCHES: '1' });
    expect(off.stderr).toBe('');
    expect(JSON.parse(off.stdout)).toMatchObject({ result: 'installed', version: '1.9.0', patchedFiles: 0, patchBytes: 0, patchFallbacks: [], downloadedFiles: 2 });
    expect(await currentFiles(agent)).toEqual(setOf(9));
  });
});
