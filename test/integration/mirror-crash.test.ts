/**
 * The mirror under crashes and hostile bundles, through the real `signet mirror` command
 * (issue 25, items 1 to 4 and 10): a sync and an import killed (SIGKILL) at each named
 * moment (the SIGNET_MIRROR_CRASH_AT hook, mirror/crash.ts) and at random moments, then
 * restarted, always serve a view that tuf-js verifies, the previous one or the new one; a
 * sync that fails on a full disk keeps serving and is repaired by the next; an isolated
 * mirror takes a newer timestamp and lease over the same snapshot, says so when a bundle
 * comes twice, and refuses a lease moved from another bundle or older than the one it holds.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createWriteStream } from 'node:fs';
import * as tar from 'tar-stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CrashPoint } from '../../mirror/crash.ts';
import { publishVersion } from '#test/support/delivery.ts';
import { createTestLicense } from '#test/support/licensing.ts';
import type { RunningSignet } from '#test/support/cli.ts';
import { runSignet, startSignetMirror } from '#test/support/cli.ts';
import { tufClient } from '#test/support/tuf-client.ts';

const stack = inject('stack');
const root = join(stack.dataDir, 'root.json');
const product = `crash-${Date.now().toString(36)}-av`;
const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
/** An upstream nothing listens on: a restart that must serve from what is on disk alone. */
const unreachable = 'http://127.0.0.1:9';
let work: string;
let licenseKey: string;
let release = 0;
const running: RunningSignet[] = [];

async function publishNext(): Promise<string> {
  release++;
  const version = `1.${release}.0`;
  await publishVersion(product, version, { 'main.sig': `main ${release}\n`, 'daily.sig': `daily ${release}\n` }, ['--channel', 'stable', '--percent', '100']);
  return version;
}

async function serve(dir: string, args: string[] = []): Promise<RunningSignet> {
  const server = await startSignetMirror(['--host', '127.0.0.1', '--port', '0', '--quiet', '--poll-seconds', '86400', '--data-dir', dir, '--root', root, ...args], env);
  running.push(server);
  return server;
}

async function stopAll(): Promise<void> {
  for (const server of running.splice(0)) await server.stop().catch(() => undefined);
}

const online = (seats = 20) => ['--upstream', stack.baseUrl, '--license', licenseKey, '--seats', String(seats)];

/** `signet mirror serve` that kills itself at `point` of its first sync. */
async function serveKilledAt(dir: string, point: CrashPoint): Promise<void> {
  const result = await runSignet(['mirror', 'serve', '--host', '127.0.0.1', '--port', '0', '--quiet', '--data-dir', dir, ...online()], { ...env, SIGNET_MIRROR_CRASH_AT: point });
  expect(result.code, `the mirror was to be killed at ${point}: ${result.stderr}`).toBeNull();
}

/** The snapshot version a fresh tuf-js client at its defaults accepts from `url` (it throws if the view does not verify). */
async function verifiedSnapshot(url: string): Promise<number> {
  const client = await tufClient({ baseUrl: url, dataDir: stack.dataDir }, []);
  try {
    await client.updater.refresh();
    const timestamp = JSON.parse(await readFile(join(client.metadataDir, 'timestamp.json'), 'utf8')) as { signed: { meta: Record<string, { version: number }> } };
    return timestamp.signed.meta['snapshot.json']?.version ?? 0;
  } finally {
    await client.dispose();
  }
}

/** A new agent installs through `url` with the agent CLI: the targets of the view verify too. */
async function agentInstalls(url: string): Promise<string> {
  const dir = await mkdtemp(join(work, 'agent-'));
  const result = await runSignet(['agent', 'update', '--server', url, '--license', licenseKey, '--product', product, '--dir', dir, '--root', root], env);
  expect(result.stderr).toBe('');
  return /installed (\d+\.\d+\.\d+)/.exec(result.stdout)?.[1] ?? result.stdout;
}

async function status(dir: string): Promise<{ problem?: string; snapshotVersion?: number; sync?: { result: string; detail?: string } }> {
  const result = await runSignet(['mirror', 'status', '--data-dir', dir, '--json'], env);
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as never;
}

async function snapshotOfStack(): Promise<number> {
  const timestamp = (await (await fetch(`${stack.baseUrl}/metadata/timestamp.json`)).json()) as { signed: { meta: Record<string, { version: number }> } };
  return timestamp.signed.meta['snapshot.json']?.version ?? 0;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'signet-mirror-crash-'));
  await publishNext();
  licenseKey = (await createTestLicense({ products: [product], seats: 400 })).licenseKey;
});

afterAll(async () => {
  await stopAll();
  await rm(work, { recursive: true, force: true });
});

const SYNC_POINTS: readonly CrashPoint[] = ['sync:refreshed', 'sync:downloaded', 'switch:prepared', 'switch:committed', 'switch:tuf-aside', 'switch:before-timestamp'];

describe('a sync killed halfway', () => {
  it.each(SYNC_POINTS)('at %s: the restarted mirror serves a view that verifies (old or new), status is honest, and the next sync completes', async (point) => {
    const dir = join(work, `sync-${point.replace(':', '-')}`);
    const first = await serve(dir, online());
    await first.stop();
    const before = await snapshotOfStack();
    const version = await publishNext();
    const after = await snapshotOfStack();
    await serveKilledAt(dir, point);

    // From the disk alone (the upstream is gone): the previous view, or the new one whole.
    const offline = await serve(dir, ['--upstream', unreachable]);
    const served = await verifiedSnapshot(offline.baseUrl);
    expect([before, after]).toContain(served);
    expect(await agentInstalls(offline.baseUrl)).toMatch(/^1\.\d+\.0$/);
    const shown = await status(dir);
    expect(shown.problem).toBeUndefined();
    expect(shown.snapshotVersion).toBe(served);
    await offline.stop();
    expect((await readdir(dir)).filter((n) => /^(sync-next|tuf\.next|tuf\.old|switch\.json|import-)/.test(n))).toEqual([]);

    // Back online, the next sync completes the release.
    const again = await serve(dir, online());
    expect(await verifiedSnapshot(again.baseUrl)).toBe(after);
    expect(await agentInstalls(again.baseUrl)).toBe(version);
    await again.stop();
  });

  it('repairs a mirror an earlier version broke: timestamp.json naming a snapshot it does not hold', async () => {
    const dir = join(work, 'broken-by-old-version');
    const first = await serve(dir, online());
    await first.stop();
    await publishNext();
    const second = await serve(dir, online());
    await second.stop();
    // What the old sync left after a kill: the trusted metadata moved on, the served files did not.
    const snapshot = await snapshotOfStack();
    await rm(join(dir, 'metadata', `${snapshot}.snapshot.json`));
    const broken = await status(dir);
    expect(broken.problem).toContain(`snapshot ${snapshot}`);
    expect(broken.sync?.result).toBe('failed');
    const repaired = await serve(dir, online());
    expect(await verifiedSnapshot(repaired.baseUrl)).toBe(snapshot);
    expect((await status(dir)).problem).toBeUndefined();
    await repaired.stop();
  });
});

/** Mounts a tmpfs of `size` on `dir` (root only); false where the machine does not allow it. */
function mountTmpfs(dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('a sync on a full disk', () => {
  const disk = join(tmpdir(), `signet-mirror-full-${process.pid}`);
  let mounted = false;
  beforeAll(async () => {
    await mkdir(disk, { recursive: true });
    mounted = process.getuid?.() === 0 && mountTmpfs(disk, '2m');
  });
  afterAll(async () => {
    if (mounted) execFileSync('umount', [disk]);
    await rm(disk, { recursive: true, force: true });
  });

  it('fails in one line naming the file, keeps serving the view it had, and completes once there is room', async (context) => {
    if (!mounted) context.skip(); // needs root and tmpfs: a real full disk, not a fake one
    const dir = join(disk, 'mirror');
    const first = await serve(dir, online());
    await first.stop();
    const before = await snapshotOfStack();
    // A release larger than the disk has room for.
    release++;
    const version = `1.${release}.0`;
    await publishVersion(product, version, { 'main.sig': 'x'.repeat(3 * 1024 * 1024), 'daily.sig': `daily ${release}\n` }, ['--channel', 'stable', '--percent', '100']);
    const full = await serve(dir, online());
    const shown = await status(dir);
    expect(shown.sync?.result).toBe('failed');
    expect(shown.sync?.detail).toMatch(/^cannot write \/\S+: no space left on the disk holding it/);
    expect(shown.problem).toBeUndefined();
    expect(await verifiedSnapshot(full.baseUrl)).toBe(before);
    await full.stop();
    // The partial download stays for the sync to resume once there is room (it is removed
    // when no held version needs it): the disk it fills is the mirror's own data dir.

    execFileSync('mount', ['-o', 'remount,size=32m', disk]);
    const roomy = await serve(dir, online());
    expect(await verifiedSnapshot(roomy.baseUrl)).toBe(await snapshotOfStack());
    expect(await agentInstalls(roomy.baseUrl)).toBe(version);
    await roomy.stop();
  });
});

/** A bundle's entries, by name. */
async function readBundle(file: string): Promise<Map<string, Buffer>> {
  const entries = new Map<string, Buffer>();
  const extract = tar.extract();
  const done = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      entries.set(entry.header.name, Buffer.concat(chunks));
    }
  })();
  await pipeline(Readable.from(await readFile(file)), extract);
  await done;
  return entries;
}

/** Writes a bundle of `entries`, bundle.json re-listing each entry's hash and length, as a forger would. */
async function writeBundle(file: string, entries: Map<string, Buffer>): Promise<void> {
  const manifest = JSON.parse((entries.get('bundle.json') ?? Buffer.from('{}')).toString()) as { entries: Array<{ name: string; sha256: string; length: number }> };
  manifest.entries = manifest.entries.map((e) => {
    const bytes = entries.get(e.name) ?? Buffer.alloc(0);
    return { name: e.name, sha256: createHash('sha256').update(bytes).digest('hex'), length: bytes.length };
  });
  const pack = tar.pack();
  const written = pipeline(pack, createWriteStream(file));
  for (const [name, bytes] of [['bundle.json', Buffer.from(JSON.stringify(manifest))] as const, ...[...entries].filter(([n]) => n !== 'bundle.json')]) pack.entry({ name, size: bytes.length }, bytes);
  pack.finalize();
  await written;
}

describe('an isolated mirror', () => {
  let connected: string;
  let template: string;
  let isolatedId: string;

  beforeAll(async () => {
    connected = join(work, 'connected');
    const up = await serve(connected, online(2));
    await up.stop();
    template = join(work, 'isolated-template');
    const isolated = await serve(template);
    await isolated.stop();
    isolatedId = (JSON.parse(await readFile(join(template, 'mirror.json'), 'utf8')) as { mirrorId: string }).mirrorId;
  });

  async function exportBundle(name: string): Promise<string> {
    const out = join(work, name);
    const result = await runSignet(['mirror', 'export', '--data-dir', connected, '--out', out, '--for', isolatedId, '--seats', '3', '--valid-days', '5'], env);
    expect(result.stderr).toBe('');
    return out;
  }

  async function freshIsolated(name: string): Promise<string> {
    const dir = join(work, name);
    await cp(template, dir, { recursive: true });
    return dir;
  }

  const importInto = (dir: string, file: string, more: NodeJS.ProcessEnv = {}) => runSignet(['mirror', 'import', file, '--data-dir', dir], { ...env, ...more });

  it('takes a second bundle over the same snapshot (newer timestamp and lease), and says so when a bundle comes twice', async () => {
    const dir = await freshIsolated('same-snapshot');
    const one = await exportBundle('one.bundle');
    const two = await exportBundle('two.bundle');
    expect((await importInto(dir, one)).stdout).toMatch(/^imported /);
    const leaseBefore = JSON.parse(await readFile(join(dir, 'lease.json'), 'utf8')) as { signed: { issuedAt: string; timestampVersion: number } };
    const second = await importInto(dir, two);
    expect(second.stderr).toBe('');
    expect(second.stdout).toMatch(/^imported /);
    const leaseAfter = JSON.parse(await readFile(join(dir, 'lease.json'), 'utf8')) as { signed: { issuedAt: string; timestampVersion: number } };
    expect(Date.parse(leaseAfter.signed.issuedAt)).toBeGreaterThan(Date.parse(leaseBefore.signed.issuedAt));
    expect(leaseAfter.signed.timestampVersion).toBeGreaterThan(leaseBefore.signed.timestampVersion);
    const again = await importInto(dir, two);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/was imported already: nothing changed/);
    const isolated = await serve(dir);
    expect(await agentInstalls(isolated.baseUrl)).toMatch(/^1\.\d+\.0$/);
    await isolated.stop();
  });

  it('refuses a lease moved from another bundle, and a lease or bundle older than the one it holds', async () => {
    const dir = await freshIsolated('lease-rollback');
    const older = await exportBundle('older.bundle');
    await publishNext();
    const newer = await exportBundle('newer.bundle');
    // The newer bundle carrying the older one's lease (more seats, an older blacklist and channels).
    const mixed = await readBundle(newer);
    mixed.set('lease.json', (await readBundle(older)).get('lease.json') ?? Buffer.alloc(0));
    const forged = join(work, 'mixed.bundle');
    await writeBundle(forged, mixed);
    const refused = await importInto(dir, forged);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^signet: the bundle's lease is refused: it was issued for the bundle of timestamp version \d+/);
    expect(await stat(join(dir, 'lease.json')).catch(() => undefined)).toBeUndefined();

    expect((await importInto(dir, newer)).code).toBe(0);
    const held = await readFile(join(dir, 'lease.json'), 'utf8');
    // The older bundle whole, after the newer: refused, the newer lease kept.
    const back = await importInto(dir, older);
    expect(back.code).toBe(1);
    expect(back.stderr.trim().split('\n')).toHaveLength(1);
    expect(await readFile(join(dir, 'lease.json'), 'utf8')).toBe(held);
  });

  const IMPORT_POINTS: readonly CrashPoint[] = ['import:unpacked', 'import:store-moved', 'switch:prepared', 'switch:committed', 'switch:tuf-aside', 'switch:before-timestamp'];

  it.each(IMPORT_POINTS)('an import killed at %s leaves a mirror that serves a verifying view, takes the bundle again, and still refuses an older one', async (point) => {
    const dir = await freshIsolated(`import-${point.replace(':', '-')}`);
    const older = await exportBundle(`older-${point}.bundle`);
    expect((await importInto(dir, older)).code).toBe(0);
    const olderSnapshot = (await status(dir)).snapshotVersion;
    await publishNext();
    const newer = await exportBundle(`newer-${point}.bundle`);
    const killed = await importInto(dir, newer, { SIGNET_MIRROR_CRASH_AT: point });
    expect(killed.code).toBeNull();

    const isolated = await serve(dir);
    expect([olderSnapshot, await snapshotOfStack()]).toContain(await verifiedSnapshot(isolated.baseUrl));
    expect((await status(dir)).problem).toBeUndefined();
    expect((await readdir(dir)).filter((n) => /^(import-|tuf\.next|tuf\.old|switch\.json)/.test(n))).toEqual([]);
    expect((await stat(join(dir, 'tuf', 'root.json'))).isFile()).toBe(true);
    await isolated.stop();

    const retried = await importInto(dir, newer);
    expect(retried.code).toBe(0);
    expect((await importInto(dir, older)).code).toBe(1);
  });

  it('survives imports and syncs killed at random moments: after a restart the served view verifies, the previous or the next', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<'sync' | 'import'>('sync', 'import'), fc.integer({ min: 0, max: 1500 }), async (operation, delayMs) => {
        const dir = operation === 'import' ? await freshIsolated(`random-${operation}-${delayMs}-${Date.now()}`) : join(work, `random-${operation}-${delayMs}-${Date.now()}`);
        let file = '';
        if (operation === 'import') {
          expect((await importInto(dir, await exportBundle(`r-old-${delayMs}.bundle`))).code).toBe(0);
          await publishNext();
          file = await exportBundle(`r-new-${delayMs}.bundle`);
        } else {
          await (await serve(dir, online())).stop();
          await publishNext();
        }
        const before = (await status(dir)).snapshotVersion;
        const args = operation === 'import' ? ['mirror', 'import', file, '--data-dir', dir] : ['mirror', 'serve', '--host', '127.0.0.1', '--port', '0', '--quiet', '--data-dir', dir, ...online()];
        await killAfter(args, delayMs);
        const restarted = await serve(dir, operation === 'sync' ? ['--upstream', unreachable] : []);
        expect([before, await snapshotOfStack()]).toContain(await verifiedSnapshot(restarted.baseUrl));
        expect((await status(dir)).problem).toBeUndefined();
        await restarted.stop();
      }),
      { numRuns: 6 },
    );
  }, 600_000);
});

/** Runs `signet ARGS` and kills it (SIGKILL) after `delayMs`, or lets it finish first. */
async function killAfter(args: string[], delayMs: number): Promise<void> {
  const { spawn } = await import('node:child_process');
  const { signetBin } = await import('#test/support/cli.ts');
  const child = spawn(process.execPath, [signetBin, ...args], { env, stdio: 'ignore' });
  const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
  // A serve that finished its sync before the kill serves on: it is killed all the same.
  const closed = new Promise((resolve) => child.on('close', resolve));
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, delayMs + 10))]);
  clearTimeout(timer);
  child.kill('SIGKILL');
  await closed;
}
