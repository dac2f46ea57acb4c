import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runSignet, startSignetLocal } from '#test/support/cli.ts';

const dirs: string[] = [];
async function tempDataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'signet-cli-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('signet local, run as a user runs it', () => {
  it('prints the ready line within 15 s on a new data dir, serves health, and stops cleanly on SIGTERM', async () => {
    const dataDir = await tempDataDir();
    const started = Date.now();
    const local = await startSignetLocal(['--port', '0', '--data-dir', dataDir, '--quiet']);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(local.readyLine).toMatch(/^signet local ready: http:\/\/127\.0\.0\.1:\d+$/);

    const health = await fetch(`${local.baseUrl}/v1/health`);
    expect(health.status).toBe(200);

    expect(await local.stop('SIGTERM')).toBe(0);
    expect(local.output()).toContain('signet local: stopped');
    // The lock and DynamoDB Local's pid file are gone: nothing was left running.
    await expect(stat(join(dataDir, 'local.lock'))).rejects.toThrow();
    await expect(stat(join(dataDir, 'dynamodb.pid'))).rejects.toThrow();
  });

  it('keeps its data across restarts and starts empty again with --fresh', async () => {
    const dataDir = await tempDataDir();
    const first = await startSignetLocal(['--port', '0', '--data-dir', dataDir, '--quiet']);
    expect(await first.stop('SIGINT')).toBe(0);
    const seeded = JSON.parse(await readFile(join(dataDir, 'seeded.json'), 'utf8')) as { completed: Record<string, string> };
    expect(Object.keys(seeded.completed)).toContain('cdn-signing-key');

    await writeFile(join(dataDir, 'marker'), 'x');
    const warm = await startSignetLocal(['--port', '0', '--data-dir', dataDir, '--quiet']);
    expect(warm.output()).not.toContain('first start');
    expect(await warm.stop()).toBe(0);
    await expect(stat(join(dataDir, 'marker'))).resolves.toBeTruthy();

    const fresh = await startSignetLocal(['--port', '0', '--data-dir', dataDir, '--quiet', '--fresh']);
    expect(fresh.output()).toContain('first start');
    expect(await fresh.stop()).toBe(0);
    await expect(stat(join(dataDir, 'marker'))).rejects.toThrow();
  });

  it('answers 503 UNAVAILABLE with Retry-After, quickly, when DynamoDB Local dies under it', async () => {
    const dataDir = await tempDataDir();
    const local = await startSignetLocal(['--port', '0', '--data-dir', dataDir, '--quiet']);
    try {
      const javaPid = Number(await readFile(join(dataDir, 'dynamodb.pid'), 'utf8'));
      process.kill(javaPid, 'SIGKILL');
      const started = Date.now();
      const response = await fetch(`${local.baseUrl}/v1/health`);
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('5');
      expect(await response.json()).toMatchObject({ error: { code: 'UNAVAILABLE' } });
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      expect(await local.stop()).toBe(0);
    }
  });

  it('re-signs timestamp.json every --timestamp-every seconds', async () => {
    const dataDir = await tempDataDir();
    const local = await startSignetLocal(['--port', '0', '--data-dir', dataDir, '--quiet', '--timestamp-every', '2']);
    try {
      const version = async () => ((await (await fetch(`${local.baseUrl}/metadata/timestamp.json`)).json()) as { signed: { version: number } }).signed.version;
      const first = await version();
      let latest = first;
      const deadline = Date.now() + 10_000;
      while (latest < first + 2 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        latest = await version();
      }
      // Two more: the one refresh every start runs cannot account for both.
      expect(latest).toBeGreaterThanOrEqual(first + 2);
    } finally {
      expect(await local.stop()).toBe(0);
    }
  });

  it('refuses a --timestamp-every that is not a whole number of seconds, or one that would let the timestamp expire, in one line', async () => {
    const zero = await runSignet(['local', '--timestamp-every', '0', '--data-dir', await tempDataDir()]);
    expect(zero.code).toBe(1);
    expect(zero.stderr.trim()).toBe('signet: --timestamp-every must be a whole number of seconds from 1 to 28800, got "0"');
    const fraction = await runSignet(['local', '--timestamp-every', '1.5', '--data-dir', await tempDataDir()]);
    expect(fraction.stderr.trim()).toBe('signet: --timestamp-every must be a whole number of seconds from 1 to 28800, got "1.5"');
    // A third of the timestamp's lifetime at most, as the cloud's config requires: 2 h here.
    const tooLong = await runSignet(['local', '--timestamp-every', '7201', '--data-dir', await tempDataDir()], { ...process.env, SIGNET_TIMESTAMP_EXPIRY_HOURS: '6' });
    expect(tooLong.stderr.trim()).toBe('signet: --timestamp-every must be a whole number of seconds from 1 to 7200, got "7201"');
  });

  it('fails in one line when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const result = await runSignet(['local', '--port', String(port), '--data-dir', await tempDataDir()]);
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toEqual([`signet: port ${port} on 127.0.0.1 is already in use: pass --port N or set SIGNET_PORT`]);
    } finally {
      blocker.close();
    }
  });

  it('fails in one line that says how to install Java when Java is missing', async () => {
    const result = await runSignet(['local', '--port', '0', '--data-dir', await tempDataDir()], { ...process.env, PATH: '/nonexistent' });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^signet: Java was not found, and DynamoDB Local needs it: install Java 17\+/);
  });

  it('refuses a port that is not a number, naming the flag', async () => {
    const result = await runSignet(['local', '--port', 'eighty', '--data-dir', await tempDataDir()]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('signet: --port must be a port number from 0 to 65535, got "eighty"');
  });

  it('reads the port from SIGNET_PORT', async () => {
    const result = await runSignet(['local', '--data-dir', await tempDataDir()], { ...process.env, SIGNET_PORT: '70000' });
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('signet: SIGNET_PORT must be a port number from 0 to 65535, got "70000"');
  });

  it('lists its commands with --help', async () => {
    const result = await runSignet(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('local');
  });
});
