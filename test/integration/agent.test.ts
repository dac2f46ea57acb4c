/**
 * The reference agent end to end against the shared local stack: registration and first
 * install, an update that downloads only the changed files, a tampered target refused
 * with the old set intact, an interrupted download resumed with Range, Retry-After,
 * stop codes, automatic re-registration, and all of it through a real proxy with basic
 * authentication.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Response } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FetchLike, UpdateResult } from '../../agent/index.ts';
import { AgentError, readState, register, status, update } from '../../agent/index.ts';
import { writeState } from '../../agent/state.ts';
import { localS3Client } from '#local/s3-local.ts';
import { publishVersion } from '#test/support/delivery.ts';
import { admin, createTestLicense, stackInfo } from '#test/support/licensing.ts';
import { startAuthProxy } from '#test/support/proxy.ts';
import type { TestProxy } from '#test/support/proxy.ts';
import { getObject, putObject } from '#test/support/tuf-client.ts';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const fastBackoff = { attempts: 4, baseMs: 50, capMs: 200 };
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'signet-agent-it-'));
  dirs.push(dir);
  return dir;
}

/** undici's fetch with a log of target requests (bytes received, Range asked) and optional faults. */
function recordingFetch(fault?: (url: string, init: Parameters<FetchLike>[1], response: Response) => Response | undefined) {
  const log: Array<{ url: string; status: number; range?: string; bytes: number }> = [];
  const fetchImpl: FetchLike = async (url, init) => {
    const { fetch } = await import('undici');
    const response = await fetch(url, init);
    const headers = (init.headers ?? {}) as Record<string, string>;
    const entry: { url: string; status: number; range?: string; bytes: number } = { url, status: response.status, ...(headers.range && { range: headers.range }), bytes: 0 };
    log.push(entry);
    const faulty = fault?.(url, init, response) ?? response;
    if (!faulty.body) return faulty;
    const reader = faulty.body.getReader();
    const counted = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) return controller.close();
          entry.bytes += value.length;
          controller.enqueue(value);
        } catch (error) {
          controller.error(error);
        }
      },
      cancel: (reason) => reader.cancel(reason),
    });
    return new Response(counted, { status: faulty.status, headers: faulty.headers });
  };
  return { fetchImpl, log, targetBytes: () => log.filter((e) => e.url.includes('/targets/')).reduce((n, e) => n + e.bytes, 0) };
}

/** A response whose body fails after `after` bytes, as when the server goes away mid-download. */
function cutAfter(response: Response, after: number): Response {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) return controller.close();
      if (sent + value.length >= after) {
        controller.enqueue(value.subarray(0, after - sent));
        sent = after;
        await reader.cancel();
        controller.error(new TypeError('terminated', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) }));
        return;
      }
      sent += value.length;
      controller.enqueue(value);
    },
  });
  return new Response(stream, { status: response.status, headers: response.headers });
}

async function setFiles(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(join(dir, 'current'))).sort()) out[name] = await readFile(join(dir, 'current', name), 'utf8');
  return out;
}

const installed = (r: UpdateResult) => {
  if (r.result !== 'installed') throw new Error(`expected an install, got ${JSON.stringify(r)}`);
  return r;
};

afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('reference agent on the demo set', () => {
  it('a fresh agent registers and installs demo-av from the stable channel', async () => {
    const { baseUrl, dataDir } = stackInfo();
    const { licenseKey } = await createTestLicense({ products: ['demo-av'], seats: 2 });
    const dir = await tempDir();
    const state = await register({ dir, server: baseUrl, licenseKey, product: 'demo-av', root: join(dataDir, 'root.json'), machineId: `m-${randomUUID()}`, http: { env: {} } });
    expect(state.agentId).toMatch(/^[0-9a-f]{32}$/);
    expect((await stat(join(dir, 'agent-state.json'))).mode & 0o777).toBe(0o600);

    const result = installed(await update({ dir, http: { env: {} } }));
    expect(result.files).toBeGreaterThan(0);
    expect(result.downloadedFiles).toBe(result.files);
    const files = await setFiles(dir);
    expect(Object.keys(files).length).toBe(result.files);

    // Nothing changed: timestamp.json alone answers, no manifest call.
    expect(await update({ dir, http: { env: {} } })).toEqual({ result: 'up-to-date', version: result.version, manifestRequested: false });
    const s = await status(dir);
    expect(s).toMatchObject({ registered: true, installedVersion: result.version, product: 'demo-av', lastResult: { result: 'up-to-date' } });
    expect(JSON.stringify(s)).not.toContain(licenseKey);
  });
});

describe('reference agent on its own product', () => {
  const product = `agent-it-${randomBytes(3).toString('hex')}`;
  const big = randomBytes(3 * 1024 * 1024).toString('base64');
  const v1 = { 'engine.cfg': 'engine 1\n', 'main.sig': big, 'daily.sig': 'daily 1\n' };
  const v2 = { ...v1, 'daily.sig': `daily 2 ${'d'.repeat(5000)}\n` };
  let licenseKey: string;
  let dir: string;
  let machineId: string;
  let proxy: TestProxy;

  beforeAll(async () => {
    ({ licenseKey } = await createTestLicense({ products: [product], seats: 10 }));
    await publishVersion(product, '1.0.0', v1, ['--channel', 'stable']);
    dir = await tempDir();
    machineId = `m-${randomUUID()}`;
    proxy = await startAuthProxy('agent', 'pa:ss word');
  }, 120_000);

  afterAll(async () => {
    await proxy.close();
  });

  const registerAgent = (d: string, extra: Partial<Parameters<typeof register>[0]> = {}) =>
    register({ dir: d, server: stackInfo().baseUrl, licenseKey, product, root: join(stackInfo().dataDir, 'root.json'), machineId: `m-${randomUUID()}`, http: { env: {}, backoff: fastBackoff }, ...extra });

  it('installs, then updates fetching only the changed file (as a binary patch from the old one)', async () => {
    await registerAgent(dir, { machineId });
    const first = installed(await update({ dir, http: { env: {} } }));
    expect(first).toMatchObject({ version: '1.0.0', files: 3, downloadedFiles: 3 });
    expect(await setFiles(dir)).toEqual(v1);

    await publishVersion(product, '1.1.0', v2, ['--channel', 'stable']);
    const net = recordingFetch();
    const second = installed(await update({ dir, http: { env: {}, fetch: net.fetchImpl } }));
    const changed = Buffer.byteLength(v2['daily.sig']);
    // daily.sig's patch from 1.0.0 (publish made it: far under half the file) rebuilds it; nothing is downloaded whole.
    expect(second).toMatchObject({ version: '1.1.0', previousVersion: '1.0.0', files: 3, downloadedFiles: 0, patchedFiles: 1, reusedFiles: 2, downloadedBytes: 0, patchFallbacks: [] });
    expect(second.patchBytes).toBeGreaterThan(0);
    expect(second.patchBytes).toBeLessThan(changed / 2);
    // Counted on the wire: the changed file's patch and the set manifest, nothing of the 4 MB main.sig.
    expect(net.targetBytes()).toBe(second.patchBytes + second.setManifestBytes);
    expect(net.log.filter((e) => e.url.includes('/targets/')).length).toBe(2);
    expect(await setFiles(dir)).toEqual(v2);
    console.log(`[agent] update 1.0.0 -> 1.1.0: ${net.targetBytes()} target bytes on the wire for a ${Object.values(v2).reduce((n, c) => n + Buffer.byteLength(c), 0)}-byte set`);
  });

  it('refuses a tampered target, keeps the old set and reports failed; installs once it is restored', async () => {
    const { s3Endpoint, bucket } = stackInfo();
    const v3 = { ...v2, 'extra.sig': `extra ${randomUUID()}\n` };
    await publishVersion(product, '1.2.0', v3, ['--channel', 'stable']);
    const key = `targets/${product}/${sha256(v3['extra.sig'])}/${sha256(v3['extra.sig'])}.extra.sig`;
    const s3 = localS3Client(s3Endpoint);
    const original = await getObject(s3, bucket, key);
    try {
      await putObject(s3, bucket, key, Buffer.from(`EVIL ${'x'.repeat(original.length - 5)}`.slice(0, original.length)));
      const error = await update({ dir, http: { env: {}, backoff: fastBackoff } }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AgentError);
      expect((error as AgentError).code).toBe('VERIFICATION_FAILED');
      expect(await setFiles(dir)).toEqual(v2);
      const state = await readState(dir);
      expect(state?.installed?.version).toBe('1.1.0');
      expect(state?.lastResult).toMatchObject({ result: 'failed', version: '1.2.0' });
      expect(state?.lastResult?.detail).toMatch(/VERIFICATION_FAILED/);
      // No partial or unverified content was kept.
      expect((await readdir(join(dir, 'store'))).some((f) => f.startsWith(sha256(v3['extra.sig'])))).toBe(false);
      const fleet = await (await admin()).call<{ versions: Array<{ version: string; failed: number }> }>('GET', `/v1/admin/fleet/${product}`);
      expect(fleet.versions.find((v) => v.version === '1.2.0')?.failed).toBeGreaterThanOrEqual(1);
    } finally {
      await putObject(s3, bucket, key, original);
      s3.destroy();
    }
    expect(installed(await update({ dir, http: { env: {} } }))).toMatchObject({ version: '1.2.0', downloadedFiles: 1 });
    expect(await setFiles(dir)).toEqual(v3);
  });

  it('resumes a download cut midway with Range and verifies the whole file', async () => {
    const v4 = { 'engine.cfg': 'engine 4\n', 'main.sig': randomBytes(2 * 1024 * 1024).toString('base64') };
    await publishVersion(product, '1.3.0', v4, ['--channel', 'stable']);
    const size = Buffer.byteLength(v4['main.sig']);
    const target = `${sha256(v4['main.sig'])}.main.sig`;
    let cut = false;
    const net = recordingFetch((url, _init, response) => {
      if (cut || !url.includes(target)) return undefined;
      cut = true;
      return cutAfter(response, 1_000_000);
    });
    const result = installed(await update({ dir, http: { env: {}, fetch: net.fetchImpl, backoff: fastBackoff } }));
    expect(result).toMatchObject({ version: '1.3.0', resumedDownloads: 1 });
    const requests = net.log.filter((e) => e.url.includes(target));
    expect(requests).toHaveLength(2);
    expect(requests[0]?.range).toBeUndefined();
    // The second request asks for the rest of what the first delivered before the cut.
    const kept = requests[0]?.bytes ?? 0;
    expect(kept).toBeGreaterThan(500_000);
    expect(kept).toBeLessThanOrEqual(1_000_000);
    expect(requests[1]).toMatchObject({ range: `bytes=${kept}-`, status: 206, bytes: size - kept });
    // Each byte fetched once.
    expect(requests.reduce((n, r) => n + r.bytes, 0)).toBe(size);
    expect(await setFiles(dir)).toEqual(v4);
  });

  it('continues a .partial left by an earlier run', async () => {
    const v5 = { 'engine.cfg': 'engine 5\n', 'main.sig': randomBytes(600_000).toString('base64') };
    await publishVersion(product, '1.4.0', v5, ['--channel', 'stable']);
    const hash = sha256(v5['main.sig']);
    await writeFile(join(dir, 'store', `${hash}.partial`), Buffer.from(v5['main.sig']).subarray(0, 300_000));
    const net = recordingFetch();
    const result = installed(await update({ dir, http: { env: {}, fetch: net.fetchImpl } }));
    expect(result.resumedDownloads).toBe(1);
    expect(result.downloadedBytes).toBe(Buffer.byteLength(v5['main.sig']) - 300_000 + Buffer.byteLength(v5['engine.cfg']));
    expect(await setFiles(dir)).toEqual(v5);
  });

  it('waits out a 503 with Retry-After', async () => {
    await publishVersion(product, '1.5.0', { 'engine.cfg': 'engine 6\n' }, ['--channel', 'stable']);
    let refused = 0;
    const net = recordingFetch((url, _init, response) => {
      if (!url.endsWith('/v1/manifest') || refused > 0) return undefined;
      refused++;
      void response.body?.cancel();
      return new Response(JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'busy' } }), { status: 503, headers: { 'retry-after': '1', 'content-type': 'application/json' } });
    });
    const started = Date.now();
    expect(installed(await update({ dir, http: { env: {}, fetch: net.fetchImpl } })).version).toBe('1.5.0');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(refused).toBe(1);
  });

  it('registers again on its own when the server no longer knows its token', async () => {
    const d = await tempDir();
    const first = await registerAgent(d);
    await writeState(d, { ...first, token: `${first.token?.slice(0, -8)}AAAAAAAA` });
    expect(installed(await update({ dir: d, http: { env: {} } })).version).toBe('1.5.0');
    const after = await readState(d);
    expect(after?.token).not.toBe(first.token);
    expect(after?.agentId).toBe(first.agentId);
  });

  it('stops on COMPUTER_BLACKLISTED until register is run again', async () => {
    const d = await tempDir();
    const machine = `m-${randomUUID()}`;
    await registerAgent(d, { machineId: machine });
    const client = await admin();
    await client.call('PUT', `/v1/admin/blacklist/${machine}`, { reason: 'agent test' });
    try {
      const error = (await update({ dir: d, http: { env: {} } }).catch((e: unknown) => e)) as AgentError;
      expect(error.code).toBe('COMPUTER_BLACKLISTED');
      expect((await status(d)).stopped?.code).toBe('COMPUTER_BLACKLISTED');
      // Refused locally, no request at all.
      const net = recordingFetch();
      const again = (await update({ dir: d, http: { env: {}, fetch: net.fetchImpl } }).catch((e: unknown) => e)) as AgentError;
      expect(again.code).toBe('STOPPED');
      expect(again.message).toMatch(/COMPUTER_BLACKLISTED.*register/);
      expect(net.log).toEqual([]);
    } finally {
      await client.call('DELETE', `/v1/admin/blacklist/${machine}`);
    }
    await registerAgent(d, { machineId: machine });
    expect((await status(d)).stopped).toBeUndefined();
    expect(installed(await update({ dir: d, http: { env: {} } })).version).toBe('1.5.0');
  });

  it('goes through an HTTP proxy with basic authentication: API calls, metadata and downloads', async () => {
    const d = await tempDir();
    const conf = join(d, '..', `${randomUUID()}.proxy.conf`);
    await writeFile(conf, `127.0.0.1:${proxy.port}:agent:pa:ss word\n`);
    dirs.push(conf);
    await publishVersion(product, '1.6.0', { 'engine.cfg': 'engine 7\n', 'main.sig': randomBytes(2 * 1024 * 1024).toString('base64') }, ['--channel', 'stable']);
    const before = proxy.seen.connects;
    const bytesBefore = proxy.bytesToClients();
    await registerAgent(d, { proxyConf: conf });
    const result = installed(await update({ dir: d, http: { env: {} } }));
    expect(result.version).toBe('1.6.0');
    expect(proxy.seen.connects).toBeGreaterThan(before);
    // The downloads themselves came through the proxy: every byte of the set, and more (headers, metadata, API answers).
    expect(result.downloadedBytes).toBeGreaterThan(2 * 1024 * 1024);
    expect(proxy.bytesToClients() - bytesBefore).toBeGreaterThan(result.downloadedBytes);
    expect((await status(d)).proxy).toBe(`127.0.0.1:${proxy.port}`);
  });

  it('says the proxy refused the credentials on a wrong password, and names an unreachable proxy', async () => {
    const d = await tempDir();
    await registerAgent(d);
    const wrong = join(d, 'wrong.proxy.conf');
    await writeFile(wrong, `127.0.0.1:${proxy.port}:agent:wrong\n`);
    const refused = (await update({ dir: d, proxyConf: wrong, force: true, http: { env: {}, backoff: fastBackoff } }).catch((e: unknown) => e)) as AgentError;
    expect(refused.code).toBe('PROXY_AUTH');
    expect(refused.message).toMatch(/proxy .* refused the credentials/);
    expect(proxy.seen.refused).toBeGreaterThan(0);

    const closed = join(d, 'closed.proxy.conf');
    await writeFile(closed, '127.0.0.1:1::\n');
    const unreachable = (await update({ dir: d, proxyConf: closed, force: true, http: { env: {}, backoff: fastBackoff } }).catch((e: unknown) => e)) as AgentError;
    expect(unreachable.code).toBe('PROXY_UNREACHABLE');
    expect(unreachable.message).toMatch(/proxy 127\.0\.0\.1:1 is unreachable/);
  });
});
