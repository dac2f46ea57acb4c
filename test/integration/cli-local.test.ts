import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/cloudfront-signer';
import { afterEach, describe, expect, it } from 'vitest';
import { readLocalCdnKey } from '#lib/cdn/key-files.ts';
import { localS3Client } from '#local/s3-local.ts';
import { servicesPath } from '#local/stack.ts';
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

/** A port nothing listens on now, for a stack whose port must be known before it is ready. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

/** Stores `body` at `key` in a running stack's local S3 (its endpoint from DATA_DIR/services.json). */
async function putObject(dataDir: string, key: string, body: Buffer): Promise<void> {
  const { s3Endpoint, bucket } = JSON.parse(await readFile(servicesPath(dataDir), 'utf8')) as { s3Endpoint: string; bucket: string };
  const s3 = localS3Client(s3Endpoint);
  try {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  } finally {
    s3.destroy();
  }
}

/** A CloudFront signed URL for `path`, made with the stack's own CDN key. */
async function signedUrl(baseUrl: string, dataDir: string, path: string): Promise<string> {
  const { keyPairId, privateKeyPem } = await readLocalCdnKey(dataDir);
  return getSignedUrl({ url: `${baseUrl}${path}`, keyPairId, privateKey: privateKeyPem, algorithm: 'SHA256', dateLessThan: new Date(Date.now() + 300_000) });
}

/** Sends `head` on a bare socket and closes it as soon as `until` says so: a client that gives up. */
function abandon(baseUrl: string, head: string, until: 'first-byte' | 'sent'): Promise<void> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(head);
      if (until === 'sent') setTimeout(() => socket.destroy(), 300);
    });
    socket.once('data', () => socket.destroy());
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
  });
}

/** Fetches `url` every 20 ms until `done()`; the statuses answered. */
async function pollWhile(url: string, done: () => boolean): Promise<number[]> {
  const statuses: number[] = [];
  while (!done()) {
    const response = await fetch(url).catch(() => undefined); // refused before the port is bound: no request
    if (response) {
      statuses.push(response.status);
      await response.arrayBuffer();
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return statuses;
}

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

  it('refuses, in one line that says how to go on, a data dir whose releases use the earlier target layout', async () => {
    const dataDir = await tempDataDir();
    const first = await startSignetLocal(['--port', '0', '--data-dir', dataDir, '--quiet']);
    expect(await first.stop()).toBe(0);
    // What a data dir written before the consistent-snapshot layout holds: the hash in the basename.
    const objects = join(dataDir, 's3', 'signet-signatures', 'metadata');
    const file = join(objects, `${(await readdir(objects)).map((n) => /^(\d+)\.targets\.json\._S3rver_object$/.exec(n)?.[1]).filter(Boolean).map(Number).sort((a, b) => b - a)[0]}.targets.json._S3rver_object`);
    const targets = JSON.parse(await readFile(file, 'utf8')) as { signed: { targets: Record<string, unknown> } };
    targets.signed.targets[`demo-av/${'a'.repeat(64)}.main.sig`] = { length: 1, hashes: { sha256: 'a'.repeat(64) } };
    await writeFile(file, JSON.stringify(targets));

    const result = await runSignet(['local', '--port', '0', '--data-dir', dataDir]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/earlier target layout .*start with --fresh/)]);
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

  it('--access-log appends one line per answered or abandoned request: time, method, path without the query, status, body bytes, ms', async () => {
    const dataDir = await tempDataDir();
    const logFile = join(await tempDataDir(), 'access.log');
    await writeFile(logFile, 'a line from before\n');
    const small = randomBytes(64 * 1024);
    const large = randomBytes(32 * 1024 * 1024); // more than loopback's socket buffers hold
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const smallPath = `/targets/demo-av/${sha(small)}.small.bin`;
    const largePath = `/targets/demo-av/${sha(large)}.large.bin`;

    const first = await startSignetLocal(['--port', '0', '--data-dir', dataDir, '--quiet', '--access-log', logFile]);
    try {
      await putObject(dataDir, smallPath.slice(1), small);
      await putObject(dataDir, largePath.slice(1), large);
      expect((await fetch(`${first.baseUrl}/v1/health`)).status).toBe(200);
      const download = await fetch(await signedUrl(first.baseUrl, dataDir, smallPath));
      expect(Buffer.from(await download.arrayBuffer()).equals(small)).toBe(true);
      expect((await fetch(await signedUrl(first.baseUrl, dataDir, smallPath), { method: 'HEAD' })).status).toBe(200);
      expect((await fetch(`${first.baseUrl}/metadata/nothing.json?x=1`)).status).toBe(404);
      const largeUrl = new URL(await signedUrl(first.baseUrl, dataDir, largePath));
      await abandon(first.baseUrl, `GET ${largeUrl.pathname}${largeUrl.search} HTTP/1.1\r\nHost: ${largeUrl.host}\r\n\r\n`, 'first-byte');
      await abandon(first.baseUrl, `POST /v1/manifest HTTP/1.1\r\nHost: ${largeUrl.host}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"prod`, 'sent');
    } finally {
      expect(await first.stop()).toBe(0);
    }

    // A restart appends; the 503s it answers while starting are logged too.
    const port = await freePort();
    let ready = false;
    const starting = pollWhile(`http://127.0.0.1:${port}/v1/health`, () => ready);
    const second = await startSignetLocal(['--port', String(port), '--data-dir', dataDir, '--quiet', '--access-log', logFile]).finally(() => (ready = true));
    const whileStarting = await starting;
    try {
      expect((await fetch(`${second.baseUrl}/v1/health`)).status).toBe(200);
    } finally {
      expect(await second.stop()).toBe(0);
    }

    const [before, ...lines] = (await readFile(logFile, 'utf8')).trimEnd().split('\n');
    expect(before).toBe('a line from before');
    expect(lines.join('\n')).not.toMatch(/[?]|Signature|Policy/);
    const fields = lines.map((line) => {
      const match = /^(\S+) ([A-Z]+) (\S+) (\d{3}) (\d+) (\d+\.\d)$/.exec(line);
      expect(match, line).not.toBeNull();
      const [, time = '', method, path, status, bytes] = match ?? [];
      expect(new Date(time).toISOString()).toBe(time);
      return { method, path, status, bytes: Number(bytes) };
    });
    expect(fields.slice(0, 6)).toEqual([
      { method: 'GET', path: '/v1/health', status: '200', bytes: '{"status":"ok"}'.length },
      { method: 'GET', path: smallPath, status: '200', bytes: 64 * 1024 },
      { method: 'HEAD', path: smallPath, status: '200', bytes: 0 },
      { method: 'GET', path: '/metadata/nothing.json', status: '404', bytes: expect.any(Number) },
      { method: 'GET', path: largePath, status: '200', bytes: expect.any(Number) },
      // Gone before any answer: no status was sent.
      { method: 'POST', path: '/v1/manifest', status: '000', bytes: 0 },
    ]);
    const abandoned = fields[4]?.bytes ?? 0;
    expect(abandoned).toBeGreaterThan(0);
    expect(abandoned).toBeLessThan(large.length);
    // Then the second run: one line per answer while it started (503s; the last may be a 200), and the request after.
    expect(whileStarting).toContain(503);
    expect(fields.slice(6)).toEqual([
      ...whileStarting.map((status) => ({ method: 'GET', path: '/v1/health', status: String(status), bytes: expect.any(Number) })),
      { method: 'GET', path: '/v1/health', status: '200', bytes: '{"status":"ok"}'.length },
    ]);
  });

  it('fails in one line when --access-log cannot be opened', async () => {
    const result = await runSignet(['local', '--access-log', '/nonexistent/dir/access.log', '--data-dir', await tempDataDir()]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^signet: cannot open the access log: ENOENT: .*\/nonexistent\/dir\/access\.log/)]);
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
