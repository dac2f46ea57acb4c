/**
 * `signet agent update` on a full disk, a real one: the install dir on a 2 MiB tmpfs
 * (mounted here, so root only; skipped, saying why, where mount is not allowed). The
 * update removes the partial files it made, says in one line which path and what to do,
 * exits 1, and records the failure in the state; where even the state cannot be written,
 * the same line says so. Once space is freed, the next run installs.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AgentState } from '../../agent/index.ts';
import { publishVersion } from '#test/support/delivery.ts';
import { runSignet } from '#test/support/cli.ts';
import { createTestLicense, stackInfo } from '#test/support/licensing.ts';

const env = { ...process.env, HTTP_PROXY: '', HTTPS_PROXY: '', http_proxy: '', https_proxy: '' };
const mounts: string[] = [];

/** A fresh tmpfs of `size` (mount's syntax: 2m) on a new temporary directory. */
async function mountTmpfs(size: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'signet-agent-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  mounts.push(dir);
  return dir;
}

/** Why a real full disk cannot be had here, if it cannot: the test then skips, saying so. */
async function whyNoTmpfs(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  try {
    const probe = await mountTmpfs('64k');
    execFileSync('umount', [probe]);
    mounts.pop();
    await rm(probe, { recursive: true, force: true });
    return undefined;
  } catch (error) {
    return `mount -t tmpfs failed: ${(error as Error).message.split('\n')[0]}`;
  }
}

const skipReason = await whyNoTmpfs();
if (skipReason) console.warn(`[agent-disk-full] skipped: a real full disk needs a tmpfs mount, and ${skipReason}`);

afterAll(async () => {
  for (const dir of mounts) {
    try {
      execFileSync('umount', [dir], { stdio: 'pipe' });
    } catch {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
    }
    await rm(dir, { recursive: true, force: true });
  }
});

const readAgentState = async (dir: string) => JSON.parse(await readFile(join(dir, 'agent-state.json'), 'utf8')) as AgentState;
const freeBytes = async (dir: string) => {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
};

/** A product of its own, 1.0.0 published: a ~3 MB file (more than the disk holds) and a small one; an agent registered in `dir`. */
async function agentFor(dir: string, files: Record<string, string>): Promise<void> {
  const product = `agent-disk-${randomBytes(3).toString('hex')}`;
  const { baseUrl, dataDir } = stackInfo();
  const { licenseKey } = await createTestLicense({ products: [product], seats: 1 });
  await publishVersion(product, '1.0.0', files, ['--channel', 'stable']);
  const registered = await runSignet(['agent', 'register', '--server', baseUrl, '--root', join(dataDir, 'root.json'), '--license', licenseKey, '--product', product, '--dir', dir, '--machine-id', `m-${randomUUID()}`], env);
  expect(registered.code, registered.stderr).toBe(0);
}

async function setFiles(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(join(dir, 'current'))).sort()) out[name] = await readFile(join(dir, 'current', name), 'utf8');
  return out;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe.skipIf(skipReason !== undefined)('signet agent update on a full disk (a 2 MiB tmpfs)', () => {
  it('a set larger than the disk: the partial download is removed, one line names it, exit 1, the failure is in the state; with room, the next run installs', { timeout: 240_000 }, async () => {
    const disk = await mountTmpfs('2m');
    const dir = join(disk, 'agent');
    const files = { 'engine.cfg': 'engine 1\n', 'main.sig': randomBytes(2_300_000).toString('base64') };
    await agentFor(dir, files);

    const full = await runSignet(['agent', 'update', '--dir', dir], env);
    expect(full.code).toBe(1);
    expect(full.stdout).toBe('');
    const lines = full.stderr.trim().split('\n');
    expect(lines).toHaveLength(1); // no stack trace, no SIGNET_DEBUG hint
    expect(lines[0]).toMatch(new RegExp(`^signet: NO_SPACE: no space left on the disk holding ${escape(dir)}/store/[0-9a-f]{64}\\.partial: free space, then run again$`));

    // The partial download is gone, and with it the space it filled; a verified small file may stay.
    expect((await readdir(join(dir, 'store'))).filter((f) => f.endsWith('.partial'))).toEqual([]);
    expect(await freeBytes(disk)).toBeGreaterThan(1_500_000);
    const state = await readAgentState(dir);
    expect(state.installed).toBeUndefined();
    expect(state.lastResult).toMatchObject({ result: 'failed', version: '1.0.0' });
    expect(state.lastResult?.detail).toMatch(/^NO_SPACE: no space left on the disk holding .*\.partial: free space, then run again$/);

    // Space freed (the disk grown): the next run installs, whole.
    execFileSync('mount', ['-o', 'remount,size=16m', disk]);
    const next = await runSignet(['agent', 'update', '--dir', dir, '--json'], env);
    expect(next.code, next.stderr).toBe(0);
    expect(JSON.parse(next.stdout)).toMatchObject({ result: 'installed', version: '1.0.0' });
    expect(await setFiles(dir)).toEqual(files);
  });

  it('a disk already full: the same line also says the failure could not be recorded in the state, which stays whole; once space is freed the next run installs', { timeout: 240_000 }, async () => {
    const disk = await mountTmpfs('2m');
    const dir = join(disk, 'agent');
    const files = { 'engine.cfg': 'engine 1\n', 'daily.sig': 'daily 1\n' };
    await agentFor(dir, files);
    const before = await readFile(join(dir, 'agent-state.json'), 'utf8');
    // Something else fills the disk: as much as it takes.
    const filler = join(disk, 'filler');
    await writeFile(filler, Buffer.alloc(4 << 20)).catch((error: NodeJS.ErrnoException) => expect(error.code).toBe('ENOSPC'));
    expect(await freeBytes(disk)).toBe(0);

    const full = await runSignet(['agent', 'update', '--dir', dir], env);
    expect(full.code).toBe(1);
    const lines = full.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`^signet: NO_SPACE: no space left on the disk holding ${escape(dir)}/\\S+: free space, then run again \\(the failure could not be recorded in ${escape(dir)}/agent-state\\.json either: no space left\\)$`),
    );
    // The state is as it was: the write that failed did not tear it.
    expect(await readFile(join(dir, 'agent-state.json'), 'utf8')).toBe(before);
    expect((await readdir(dir)).filter((f) => f.includes('.tmp') || f.startsWith('.current-'))).toEqual([]);

    await rm(filler);
    const next = await runSignet(['agent', 'update', '--dir', dir, '--json'], env);
    expect(next.code, next.stderr).toBe(0);
    expect(JSON.parse(next.stdout)).toMatchObject({ result: 'installed', version: '1.0.0' });
    expect(await setFiles(dir)).toEqual(files);
  });
});
