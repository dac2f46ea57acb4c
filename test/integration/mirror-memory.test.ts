/**
 * `signet mirror serve`'s memory under readers that never read (a hostile probe's finding:
 * 1,000 of them took a mirror from 141 MB to 2.2 GB of RSS, kept after they left). A real
 * mirror process, with its default limits, on loopback: more connections than its cap ask
 * for a large target and read nothing; the process's RSS stays under the bound of
 * docs/mirror.md "Memory bound", those beyond the cap are answered 503 with Retry-After,
 * and a second flood after the first has gone grows nothing.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_MAX_CONNECTIONS } from '#lib/edge/server.ts';
import { FAST_POOL_BYTES, SLOW_READ_BYTES } from '#lib/http/serve-object.ts';
import { consistentName } from '#lib/releases/set-manifest.ts';
import { publishVersion } from '#test/support/delivery.ts';
import { createTestLicense } from '#test/support/licensing.ts';
import type { RunningSignet } from '#test/support/cli.ts';
import { startSignetMirror } from '#test/support/cli.ts';
import { rawRequest } from '#test/support/raw-http.ts';

const stack = inject('stack');
const root = join(stack.dataDir, 'root.json');
const product = `mmem-${Date.now().toString(36)}-av`;
const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
/** 8 MB: far more than the kernel buffers of a reader that never reads take in. */
const content = randomBytes(6_000_000).toString('base64');
const FLOOD = DEFAULT_MAX_CONNECTIONS + 100;
const MiB = 1024 * 1024;
/**
 * docs/mirror.md "Memory bound", above the process's base: every connection one slow read
 * and its own share of Node (sockets, parser, request and response objects; 32 KiB is
 * above what was measured), the refusals' headroom (a quarter of the cap) at that share,
 * and the pool of large reads.
 */
const PER_CONNECTION_BYTES = SLOW_READ_BYTES + 32 * 1024;
const BOUND_BYTES = DEFAULT_MAX_CONNECTIONS * PER_CONNECTION_BYTES + Math.ceil(DEFAULT_MAX_CONNECTIONS / 4) * 32 * 1024 + FAST_POOL_BYTES;

let work: string;
let mirror: RunningSignet;
let targetUrl: URL;

async function rssBytes(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kB = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
  return { rss: kB('VmRSS'), peak: kB('VmHWM') };
}

async function post(url: string, body: unknown, token?: string): Promise<Record<string, unknown>> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close', ...(token && { authorization: `Bearer ${token}` }) }, body: JSON.stringify(body) });
  return (await response.json()) as Record<string, unknown>;
}

/** FLOOD connections asking for the target, none reading: the answers they got, then a function that closes them all. */
async function flood(): Promise<{ statuses: Record<string, number>; closed: number; close(): Promise<void> }> {
  const script = fileURLToPath(new URL('../support/held-connections.py', import.meta.url));
  const held = spawn('python3', [script, targetUrl.hostname, targetUrl.port, `${targetUrl.pathname}${targetUrl.search}`, targetUrl.host, String(FLOOD)]);
  const lines = createInterface({ input: held.stdout })[Symbol.asyncIterator]();
  const first = (await lines.next()).value as string | undefined;
  if (!first) throw new Error('held-connections.py said nothing');
  return {
    ...(JSON.parse(first) as { statuses: Record<string, number>; closed: number }),
    async close() {
      held.stdin.end('close\n');
      await lines.next();
      held.kill();
    },
  };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'signet-mirror-memory-'));
  await publishVersion(product, '1.0.0', { 'big.db': content }, ['--channel', 'stable']);
  const { licenseKey } = await createTestLicense({ products: [product], seats: 5 });
  mirror = await startSignetMirror(['--host', '127.0.0.1', '--port', '0', '--quiet', '--upstream', stack.baseUrl, '--license', licenseKey, '--seats', '2', '--root', root, '--data-dir', join(work, 'mirror'), '--poll-seconds', '86400'], env);
  const { token } = (await post(`${mirror.baseUrl}/v1/agents`, { licenseKey, machineId: 'memory', product, os: 'linux', arch: 'x64' })) as { token: string };
  const manifest = (await post(`${mirror.baseUrl}/v1/manifest`, { product }, token)) as { targetsUrl: string; setManifest: string; download: { query: string } };
  const set = (await (await fetch(`${manifest.targetsUrl}${consistentName(manifest.setManifest, manifest.setManifest.split('/')[1] ?? '')}?${manifest.download.query}`, { headers: { connection: 'close' } })).json()) as {
    files: Array<{ target: string; sha256: string }>;
  };
  const big = set.files.find((f) => f.target.endsWith('big.db'));
  if (!big) throw new Error('the set manifest names no big.db');
  targetUrl = new URL(`${manifest.targetsUrl}${consistentName(big.target, big.sha256)}?${manifest.download.query}`);
}, 60_000);

afterAll(async () => {
  await mirror?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('readers that never read, beyond the connection cap', () => {
  it('keeps the mirror\'s RSS under the stated bound, refuses those beyond the cap with 503 and Retry-After, and grows nothing on a second flood', async () => {
    const pid = mirror.child.pid ?? 0;
    // One whole download first (large reads, the pool in use), as a serving mirror has had.
    const whole = await rawRequest(targetUrl.origin, `${targetUrl.pathname}${targetUrl.search}`);
    expect(whole.status).toBe(200);
    expect(whole.body.toString()).toBe(content);
    const base = await rssBytes(pid);

    const first = await flood();
    try {
      expect(first.closed).toBe(0);
      // Each connection was answered, served or refused; the cap is the line between them.
      expect((first.statuses['200'] ?? 0) + (first.statuses['503'] ?? 0)).toBe(FLOOD);
      expect(first.statuses['200']).toBeLessThanOrEqual(DEFAULT_MAX_CONNECTIONS);
      expect(first.statuses['200']).toBeGreaterThanOrEqual(DEFAULT_MAX_CONNECTIONS - 2); // this test's own connections may still be open
      // A client beyond the cap is told why and when to come back, in a contract error body.
      const refused = await rawRequest(targetUrl.origin, `${targetUrl.pathname}${targetUrl.search}`);
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('5');
      expect(refused.headers.connection).toBe('close');
      expect(JSON.parse(refused.body.toString()).error.code).toBe('UNAVAILABLE');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const held = await rssBytes(pid);
      expect(held.rss - base.rss, `RSS ${(base.rss / MiB).toFixed(0)} -> ${(held.rss / MiB).toFixed(0)} MiB`).toBeLessThan(BOUND_BYTES);
    } finally {
      await first.close();
    }

    // The slots come back once the flood has gone: a download is served whole again.
    await expect.poll(async () => (await rawRequest(targetUrl.origin, `${targetUrl.pathname}${targetUrl.search}`)).status, { timeout: 10_000, interval: 200 }).toBe(200);
    const afterFirst = await rssBytes(pid);

    const second = await flood();
    try {
      expect(second.statuses['200']).toBeGreaterThanOrEqual(DEFAULT_MAX_CONNECTIONS - 2);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const held = await rssBytes(pid);
      // The memory the first flood took is reused, not added to: RSS stays in the bound from
      // the same base, and so does the high-water mark from the one before the floods (the
      // mark counts the sync and the first download, whose memory GC has given back since
      // `base` was read, so it is compared with the mark of then, not with base's RSS).
      expect(held.rss - base.rss, `RSS ${(base.rss / MiB).toFixed(0)} -> ${(held.rss / MiB).toFixed(0)} MiB`).toBeLessThan(BOUND_BYTES);
      expect(held.peak - base.peak, `peak ${(base.peak / MiB).toFixed(0)} -> ${(held.peak / MiB).toFixed(0)} MiB`).toBeLessThan(BOUND_BYTES);
      expect(held.rss - afterFirst.rss).toBeLessThan(32 * MiB);
    } finally {
      await second.close();
    }
  });
});
