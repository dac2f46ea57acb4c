/**
 * `signet mirror` end to end against the shared local stack: agents installing and
 * updating through a mirror and through a chain of two, with the upstream gone; a bundle
 * carried into an isolated mirror, and tampered, truncated and foreign bundles refused
 * with the mirror serving what it had; the license enforced at the mirror from its lease
 * (seats, blacklist, suspension, an expired lease); a sync through a real proxy with basic
 * authentication; a target changed upstream refused at sync; a rollout wave and a halt
 * reaching agents behind a mirror as they reach direct ones.
 */
import { createHash, randomUUID } from 'node:crypto';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { register, update } from '../../agent/index.ts';
import { exportFromMirror, exportMirrorReports, importIntoMirror, startMirror } from '../../mirror/index.ts';
import type { MirrorOptions, RunningMirror } from '../../mirror/index.ts';
import { readRelayKey, relayKeyFor } from '../../mirror/reports.ts';
import { paths, readServed, writeJson } from '../../mirror/state.ts';
import { mirrorStatus } from '../../mirror/status.ts';
import { signLease } from '#lib/mirror/lease.ts';
import type { SignedLease } from '#lib/mirror/lease.ts';
import { haltChannel, publishVersion } from '#test/support/delivery.ts';
import { inWave } from '#lib/releases/channels.ts';
import { pathTable } from '#test/support/hostile-paths.ts';
import { rawRequest } from '#test/support/raw-http.ts';
import { admin, createTestLicense, registrationFor } from '#test/support/licensing.ts';
import { startAuthProxy } from '#test/support/proxy.ts';
import { getObject, putObject, stackRepositoryDeps } from '#test/support/tuf-client.ts';

const stack = inject('stack');
const root = join(stack.dataDir, 'root.json');
const run = Date.now().toString(36);
const product = `mirror-${run}-av`;
const started: RunningMirror[] = [];
const dirs: string[] = [];
const noProxy = { env: {} };

async function tempDir(prefix = 'signet-mirror-it-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

type TestMirror = RunningMirror & { readonly dir: string };

async function mirror(options: Partial<MirrorOptions>): Promise<TestMirror> {
  const dir = options.dir ?? (await tempDir());
  // A poll interval far beyond the test: every sync here is the test's own call.
  const running = await startMirror({ dir, port: 0, host: '127.0.0.1', root, pollSeconds: 86_400, env: {}, ...options });
  started.push(running);
  return Object.assign(running, { dir });
}

async function agentThrough(server: string, licenseKey: string, machineId = `m-${randomUUID()}`) {
  const dir = await tempDir('signet-mirror-agent-');
  await register({ dir, server, licenseKey, product, root, machineId, http: noProxy });
  return { dir, machineId, update: () => update({ dir, http: noProxy }) };
}

async function installed(dir: string, name: string): Promise<string> {
  return readFile(join(dir, 'current', name), 'utf8');
}

async function post(url: string, body: unknown, token?: string): Promise<{ status: number; headers: Headers; body: { error?: { code: string; message: string } } & Record<string, unknown> }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) }, body: JSON.stringify(body) });
  return { status: response.status, headers: response.headers, body: (await response.json()) as never };
}

/** A TCP hop in front of the stack: closing it is the upstream going away, for the mirror only. */
async function hop(port: number): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client: Socket) => {
    const upstream = connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

let licenseKey: string;
let licenseId: string;

beforeAll(async () => {
  await publishVersion(product, '1.0.0', { 'main.sig': 'one\n', 'daily.sig': 'daily 1\n' }, ['--channel', 'stable']);
  // A year: bundles' timestamps and leases never outlive the license, and these ask for 10 days.
  const created = await createTestLicense({ products: [product], seats: 20, expires: new Date(Date.now() + 365 * 86_400_000).toISOString() });
  licenseKey = created.licenseKey;
  licenseId = created.license.licenseId;
});

afterAll(async () => {
  for (const m of started) await m.stop().catch(() => undefined);
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('an agent behind a mirror', () => {
  let site: TestMirror;

  beforeAll(async () => {
    site = await mirror({ upstream: stack.baseUrl, licenseKey, seats: 5 });
  });

  it('installs and updates through it, with the metadata served byte for byte as the upstream signed it', async () => {
    const agent = await agentThrough(site.url, licenseKey);
    expect(await agent.update()).toMatchObject({ result: 'installed', version: '1.0.0' });
    expect(await installed(agent.dir, 'main.sig')).toBe('one\n');

    for (const name of ['timestamp.json', '1.root.json']) {
      const [here, there] = await Promise.all([site.url, stack.baseUrl].map(async (base) => Buffer.from(await (await fetch(`${base}/metadata/${name}`)).arrayBuffer())));
      expect(`${name}: ${here?.toString()}`).toBe(`${name}: ${there?.toString()}`);
    }

    await publishVersion(product, '1.1.0', { 'main.sig': 'one\n', 'daily.sig': 'daily 2\n' }, ['--channel', 'stable', '--percent', '100']);
    expect(await site.sync()).toMatchObject({ result: 'ok' });
    expect(await agent.update()).toMatchObject({ result: 'installed', version: '1.1.0', downloadedFiles: 1 });
    expect(await installed(agent.dir, 'daily.sig')).toBe('daily 2\n');
  });

  it('answers a target only with a grant it issued (403 without one, or with the service\'s), and nothing of its data dir', async () => {
    const name = Object.keys((await readServed(site.dir))?.targets ?? {}).find((n) => n.endsWith('.main.sig'));
    expect(name).toBeDefined();
    expect((await fetch(`${site.url}/targets/${name}`)).status).toBe(403);
    // The service's grant is the service's: the mirror signs its own with its own key.
    const upstream = await post(`${stack.baseUrl}/v1/agents`, registrationFor(licenseKey, { product }));
    const upstreamManifest = await post(`${stack.baseUrl}/v1/manifest`, { product, channel: 'stable' }, String(upstream.body.token));
    const upstreamQuery = (upstreamManifest.body as { download?: { query?: string } }).download?.query;
    expect(upstreamQuery).toBeTruthy();
    expect((await fetch(`${site.url}/targets/${name}?${upstreamQuery}`)).status).toBe(403);
    const local = await post(`${site.url}/v1/agents`, registrationFor(licenseKey, { product }));
    const localManifest = await post(`${site.url}/v1/manifest`, { product, channel: 'stable' }, String(local.body.token));
    const localQuery = (localManifest.body as { download?: { query?: string } }).download?.query;
    expect((await fetch(`${site.url}/targets/${name}?${localQuery}`)).status).toBe(200);

    // The guard's hostile paths, and the files beside metadata/ (mirror.json holds the license key).
    for (const [path, expected] of pathTable) {
      if (/[\s\u0080-\uffff]/.test(path)) continue; // not sendable as an HTTP/1.1 request line
      const response = await rawRequest(site.url, path);
      if (expected === 'pass') expect([200, 403, 404], path).toContain(response.status);
      else expect(response.status, path).toBe(expected);
    }
    for (const path of ['/metadata/%2e%2e/mirror.json', '/metadata/..%2fmirror.json', '/metadata/../lease.json', '/metadata/%2E%2E/keys/cdn-private.pem', '/mirror.json', '/store/', '/targets/../mirror.json']) {
      const response = await rawRequest(site.url, path);
      expect([400, 403, 404], path).toContain(response.status);
      expect(response.body.toString(), path).not.toContain(licenseKey);
    }
  });

  it('sends agents\' reports on to the service, where the fleet view counts them', async () => {
    const agent = await agentThrough(site.url, licenseKey);
    await agent.update();
    const before = await mirrorStatus(site.dir);
    expect(before.pendingReports).toBeGreaterThan(0);
    await site.sync();
    expect((await mirrorStatus(site.dir)).pendingReports).toBe(0);
    const fleet = await (await admin()).call<{ versions: Array<{ version: string; ok: number }> } & Record<string, unknown>>('GET', `/v1/admin/fleet/${product}`);
    expect(JSON.stringify(fleet)).toContain('1.1.0');
  });

  it('shows its state in status', async () => {
    const status = await mirrorStatus(site.dir);
    expect(status).toMatchObject({ mirrorId: site.config.mirrorId, upstream: stack.baseUrl, sync: { result: expect.stringMatching(/ok|up-to-date/) }, lease: { licenseId, seats: 5, expired: false } });
    expect(status.versions[product]).toEqual(expect.arrayContaining(['1.0.0', '1.1.0']));
    expect(status.storeBytes).toBeGreaterThan(0);
  });

  it('works through a chain of two mirrors, and keeps serving with the upstream gone', async () => {
    const link = await hop(Number(new URL(site.url).port));
    const downstream = await mirror({ upstream: link.url, licenseKey, seats: 3 });
    const agent = await agentThrough(downstream.url, licenseKey);
    expect(await agent.update()).toMatchObject({ result: 'installed', version: '1.1.0' });
    // What the downstream mirror fetched came from the first mirror, not from the service.
    const upstreamLog = await readFile(stack.logPath, 'utf8');
    expect(upstreamLog).not.toContain(downstream.config.mirrorId);

    await link.close();
    expect(await downstream.sync()).toMatchObject({ result: 'failed' });
    // Already synced: a new agent registers from the lease, and installs.
    const late = await agentThrough(downstream.url, licenseKey);
    expect(await late.update()).toMatchObject({ result: 'installed', version: '1.1.0' });
    expect((await mirrorStatus(downstream.dir)).sync).toMatchObject({ result: 'failed', lastSuccessAt: expect.any(String) });
  });
});

describe('a rollout behind a mirror', () => {
  it('offers a wave\'s version to the agents the service would (the same membership), and stops when the channel is halted upstream', async () => {
    const rolling = `mirror-${run}-wave`;
    await publishVersion(rolling, '1.0.0', { 'main.sig': 'base\n' }, ['--channel', 'stable']);
    await publishVersion(rolling, '2.0.0', { 'main.sig': 'wave\n' }, ['--channel', 'stable', '--percent', '50']);
    const own = await createTestLicense({ products: [rolling], seats: 30 });
    const site = await mirror({ upstream: stack.baseUrl, licenseKey: own.licenseKey, seats: 24 });
    const agents = await Promise.all(
      Array.from({ length: 24 }, async () => {
        const registered = await post(`${site.url}/v1/agents`, registrationFor(own.licenseKey, { product: rolling }));
        return { agentId: String(registered.body.agentId), token: String(registered.body.token) };
      }),
    );
    const offered = async () => Promise.all(agents.map(async ({ token }) => (await post(`${site.url}/v1/manifest`, { product: rolling, channel: 'stable' }, token)).body.version));

    // The service's own rule (lib/releases/channels.ts) decides, for the mirror's agent ids.
    const expected = agents.map(({ agentId }) => (inWave(agentId, '2.0.0', 50) ? '2.0.0' : '1.0.0'));
    expect(await offered()).toEqual(expected);
    // Both sides of the wave are there: the test says something about membership.
    expect(new Set(expected)).toEqual(new Set(['1.0.0', '2.0.0']));

    await haltChannel(rolling, 'stable');
    expect(await site.sync()).toMatchObject({ result: 'ok' });
    expect(await offered()).toEqual(agents.map(() => '1.0.0'));
  });
});

describe('the license at a mirror', () => {
  it('takes its seats from the license upstream, and hands out exactly those, under concurrency', async () => {
    const small = await createTestLicense({ products: [product], seats: 4 });
    const site = await mirror({ upstream: stack.baseUrl, licenseKey: small.licenseKey, seats: 3 });
    const answers = await Promise.all(Array.from({ length: 8 }, () => post(`${site.url}/v1/agents`, registrationFor(small.licenseKey, { product }))));
    expect(answers.filter((a) => a.status === 201)).toHaveLength(3);
    expect(answers.filter((a) => a.status !== 201).map((a) => a.body.error?.code)).toEqual(Array(5).fill('SEATS_EXHAUSTED'));
    // Upstream, the mirror's three are taken: one is left for agents there.
    expect((await post(`${stack.baseUrl}/v1/agents`, registrationFor(small.licenseKey, { product }))).status).toBe(201);
    expect((await post(`${stack.baseUrl}/v1/agents`, registrationFor(small.licenseKey, { product }))).body.error?.code).toBe('SEATS_EXHAUSTED');
    // A second mirror asking for seats the license no longer has is refused.
    await expect(mirror({ upstream: stack.baseUrl, licenseKey: small.licenseKey, seats: 1 }).then((m) => m.sync())).resolves.toMatchObject({ result: 'failed', detail: expect.stringContaining('seats') });
  });

  it('applies a blacklisting and a suspension made upstream at its next sync', async () => {
    const own = await createTestLicense({ products: [product], seats: 10 });
    const site = await mirror({ upstream: stack.baseUrl, licenseKey: own.licenseKey, seats: 5 });
    const agent = await agentThrough(site.url, own.licenseKey);
    expect(await agent.update()).toMatchObject({ result: 'installed' });

    const banned = `m-${randomUUID()}`;
    await (await admin()).call('PUT', `/v1/admin/blacklist/${banned}`, { reason: 'mirror test' });
    expect((await post(`${site.url}/v1/agents`, registrationFor(own.licenseKey, { product, machineId: banned }))).status).toBe(201); // not synced yet
    await site.sync();
    const refused = await post(`${site.url}/v1/agents`, registrationFor(own.licenseKey, { product, machineId: `${banned}` }));
    expect(refused.body.error?.code).toBe('COMPUTER_BLACKLISTED');

    await (await admin()).call('POST', `/v1/admin/licenses/${own.license.licenseId}/suspend`);
    expect(await site.sync()).toMatchObject({ result: 'failed', detail: expect.stringContaining('suspended') });
    const suspended = await post(`${site.url}/v1/agents`, registrationFor(own.licenseKey, { product }));
    expect(suspended).toMatchObject({ status: 403, body: { error: { code: 'LICENSE_SUSPENDED' } } });
    // Also after a restart of the mirror with the upstream out of reach.
    await site.stop();
    const again = await mirror({ dir: site.dir, upstream: 'http://127.0.0.1:9' });
    expect((await post(`${again.url}/v1/agents`, registrationFor(own.licenseKey, { product }))).body.error?.code).toBe('LICENSE_SUSPENDED');
    await again.stop();

    await (await admin()).call('POST', `/v1/admin/licenses/${own.license.licenseId}/resume`);
    const resumed = await mirror({ dir: site.dir, upstream: stack.baseUrl });
    expect((await post(`${resumed.url}/v1/agents`, registrationFor(own.licenseKey, { product }))).status).toBe(201);
  });

  it('answers 503 LEASE_EXPIRED with Retry-After once its lease has run out', async () => {
    const own = await createTestLicense({ products: [product], seats: 10 });
    const site = await mirror({ upstream: stack.baseUrl, licenseKey: own.licenseKey, seats: 2 });
    await site.stop();
    // The lease as the service would have issued it two days ago, valid a day: signed with the service's key.
    const lease = JSON.parse(await readFile(paths(site.dir).lease, 'utf8')) as SignedLease;
    const deps = await stackRepositoryDeps(stack);
    const day = 86_400_000;
    const old = await signLease({ ...lease.signed, issuedAt: new Date(Date.now() - 2 * day).toISOString(), expiresAt: new Date(Date.now() - day).toISOString() }, deps.signers.timestamp);
    deps.destroy();
    await writeJson(paths(site.dir).lease, old);
    const offline = await mirror({ dir: site.dir, upstream: 'http://127.0.0.1:9' });
    const answer = await post(`${offline.url}/v1/agents`, registrationFor(own.licenseKey, { product }));
    expect(answer).toMatchObject({ status: 503, body: { error: { code: 'LEASE_EXPIRED' } } });
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
    // A lease the service did not sign is no lease at all.
    await offline.stop();
    await writeJson(paths(site.dir).lease, { ...old, signed: { ...old.signed, expiresAt: new Date(Date.now() + day).toISOString() } });
    const forged = await mirror({ dir: site.dir, upstream: 'http://127.0.0.1:9' });
    expect((await post(`${forged.url}/v1/agents`, registrationFor(own.licenseKey, { product }))).status).toBe(503);
    expect((await post(`${forged.url}/v1/agents`, registrationFor(own.licenseKey, { product }))).body.error?.code).toBe('UNAVAILABLE');
  });

  it('limits each agent\'s manifest requests at the rate it is given, as the service does', async () => {
    const own = await createTestLicense({ products: [product], seats: 10 });
    const site = await mirror({ upstream: stack.baseUrl, licenseKey: own.licenseKey, seats: 2, rateLimits: { manifestPerMinute: 1, manifestBurst: 2 } });
    const tokens = await Promise.all([0, 1].map(async () => String((await post(`${site.url}/v1/agents`, registrationFor(own.licenseKey, { product }))).body.token)));
    const ask = (token: string) => post(`${site.url}/v1/manifest`, { product, channel: 'stable' }, token);
    expect([(await ask(tokens[0] ?? '')).status, (await ask(tokens[0] ?? '')).status]).toEqual([200, 200]);
    const limited = await ask(tokens[0] ?? '');
    expect(limited).toMatchObject({ status: 429, body: { error: { code: 'RATE_LIMITED' } } });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Per agent: another one still gets its answer.
    expect((await ask(tokens[1] ?? '')).status).toBe(200);
  });
});

describe('an isolated segment', () => {
  let connected: TestMirror;
  let isolated: TestMirror;
  let bundle: string;

  beforeAll(async () => {
    connected = await mirror({ upstream: stack.baseUrl, licenseKey, seats: 2 });
    isolated = await mirror({});
    bundle = join(await tempDir(), 'segment.bundle');
    await exportFromMirror(connected.dir, { out: bundle, forMirror: isolated.config.mirrorId, seats: 3, validDays: 10, env: {} });
  });

  it('takes a bundle, and an agent installs from it with no upstream anywhere', async () => {
    const result = await importIntoMirror(isolated.dir, bundle);
    expect(result).toMatchObject({ kind: 'bundle', licenseId });
    expect(Date.parse(result.metadataExpiresAt ?? '')).toBeGreaterThan(Date.now() + 9 * 86_400_000);
    await isolated.reload();
    expect((await fetch(`${isolated.url}/v1/health`)).status).toBe(200);
    const agent = await agentThrough(isolated.url, licenseKey);
    expect(await agent.update()).toMatchObject({ result: 'installed', version: '1.1.0' });
    expect(await installed(agent.dir, 'daily.sig')).toBe('daily 2\n');
    // Its report goes out in a reports file, and in through the connected mirror. The file is
    // signed with the relay key the bundle carried: the one the connected mirror derives.
    expect(await readRelayKey(isolated.dir)).toEqual(await relayKeyFor(connected.dir, isolated.config.mirrorId));
    const reports = join(await tempDir(), 'reports.json');
    expect(await exportMirrorReports(isolated.dir, reports)).toBeGreaterThan(0);
    expect(await importIntoMirror(connected.dir, reports)).toMatchObject({ kind: 'reports' });
    expect((await mirrorStatus(connected.dir)).pendingReports).toBeGreaterThan(0);
    await connected.sync();
    expect((await mirrorStatus(connected.dir)).pendingReports).toBe(0);
  });

  it('refuses a bundle with one byte changed, a truncated one and one made for another license, serving what it had', async () => {
    const before = await readFile(paths(isolated.dir).served, 'utf8');
    const bytes = await readFile(bundle);
    const probe = async () => {
      const agent = await agentThrough(isolated.url, licenseKey);
      return agent.update();
    };

    const changed = join(await tempDir(), 'changed.bundle');
    const flipped = Buffer.from(bytes);
    const at = bytes.indexOf('daily 2');
    expect(at).toBeGreaterThan(0);
    flipped[at] = 'D'.charCodeAt(0);
    await writeFile(changed, flipped);
    await expect(importIntoMirror(isolated.dir, changed)).rejects.toThrow(/does not match bundle\.json/);

    const cut = join(await tempDir(), 'cut.bundle');
    await writeFile(cut, bytes);
    await truncate(cut, Math.floor(bytes.length * 0.6));
    await expect(importIntoMirror(isolated.dir, cut)).rejects.toThrow(/cut short/);

    // Another license's bundle, carried to the wrong site: its mirror ids are its own (the
    // service leases an id under one license only), so it is for another mirror...
    const other = await createTestLicense({ products: [product], seats: 5 });
    const otherSite = await mirror({ upstream: stack.baseUrl, licenseKey: other.licenseKey, seats: 1 });
    const fresh = await mirror({});
    const foreign = join(await tempDir(), 'foreign.bundle');
    await exportFromMirror(otherSite.dir, { out: foreign, forMirror: fresh.config.mirrorId, seats: 1, validDays: 3, env: {} });
    await expect(importIntoMirror(isolated.dir, foreign)).rejects.toThrow(/not for this one/);
    // ...and a new mirror told which license it serves refuses another's too.
    await expect(importIntoMirror(fresh.dir, foreign, licenseKey)).rejects.toThrow(/another license/);
    expect((await fetch(`${fresh.url}/v1/health`)).status).toBe(503);

    expect(await readFile(paths(isolated.dir).served, 'utf8')).toBe(before);
    expect(await probe()).toMatchObject({ result: 'installed', version: '1.1.0' });
    expect((await stat(join(isolated.dir, 'store'))).isDirectory()).toBe(true);
  });

  it('takes a bundle --since a version with only the files it lacks', async () => {
    await publishVersion(product, '1.2.0', { 'main.sig': 'one\n', 'daily.sig': 'daily 3\n' }, ['--channel', 'stable', '--percent', '100']);
    const delta = join(await tempDir(), 'delta.bundle');
    const manifest = await exportFromMirror(connected.dir, { out: delta, forMirror: isolated.config.mirrorId, seats: 3, validDays: 10, since: '1.1.0', env: {} });
    // 1.2.0's set manifest and its one changed file, nothing of 1.0.0 or 1.1.0.
    expect(manifest.entries.filter((e) => e.name.startsWith('store/'))).toHaveLength(2);
    expect(await importIntoMirror(isolated.dir, delta)).toMatchObject({ kind: 'bundle', files: 2 });
    await isolated.reload();
    const agent = await agentThrough(isolated.url, licenseKey);
    expect(await agent.update()).toMatchObject({ result: 'installed', version: '1.2.0' });
    // An older bundle after a newer one: rollback, refused.
    await expect(importIntoMirror(isolated.dir, bundle)).rejects.toThrow(/refused/);
  });
});

describe('syncing', () => {
  it('goes through a real proxy with basic authentication, and says so when the password is wrong', async () => {
    const proxy = await startAuthProxy('site', 's3cret');
    try {
      const conf = join(await tempDir(), 'proxy.conf');
      await writeFile(conf, `127.0.0.1:${proxy.port}:site:s3cret\n`);
      const site = await mirror({ upstream: stack.baseUrl, licenseKey, seats: 1, proxyConf: conf });
      expect((await mirrorStatus(site.dir)).sync).toMatchObject({ result: 'ok' });
      expect(proxy.seen.requests + proxy.seen.connects).toBeGreaterThan(0);

      const wrong = join(await tempDir(), 'wrong-proxy.conf');
      await writeFile(wrong, `127.0.0.1:${proxy.port}:site:nope\n`);
      const refused = await mirror({ upstream: stack.baseUrl, licenseKey, seats: 1, proxyConf: wrong });
      expect((await mirrorStatus(refused.dir)).sync).toMatchObject({ result: 'failed', detail: expect.stringMatching(/proxy .* refused the credentials/) });
    } finally {
      await proxy.close();
    }
  });

  it('refuses a target changed in upstream storage, and keeps serving the previous version', async () => {
    const tampered = `${product}-t`;
    await publishVersion(tampered, '1.0.0', { 'main.sig': 'good\n' }, ['--channel', 'stable']);
    const own = await createTestLicense({ products: [tampered], seats: 5 });
    const site = await mirror({ upstream: stack.baseUrl, licenseKey: own.licenseKey, seats: 2 });
    const before = await readServed(site.dir);
    expect(Object.keys(before?.versions[tampered] ?? {})).toEqual(['1.0.0']);

    await publishVersion(tampered, '2.0.0', { 'main.sig': 'new\n' }, ['--channel', 'stable', '--percent', '100']);
    const deps = await stackRepositoryDeps(stack);
    try {
      const key = (await listKeys(deps.s3, `targets/${tampered}/`)).find((k) => k.endsWith('.main.sig') && !k.includes(sha('good\n')));
      expect(key).toBeDefined();
      const original = await getObject(deps.s3, stack.bucket, key as string);
      // Same length, other bytes: only the hash tells.
      await putObject(deps.s3, stack.bucket, key as string, Buffer.from('wen\n'));
      const record = await site.sync();
      expect(record).toMatchObject({ result: 'failed' });
      expect(record.detail).toMatch(/hash|length|verif/i);
      expect(await readServed(site.dir)).toEqual(before);
      const agent = await (async () => {
        const dir = await tempDir('signet-mirror-agent-');
        await register({ dir, server: site.url, licenseKey: own.licenseKey, product: tampered, root, http: noProxy });
        return dir;
      })();
      expect(await update({ dir: agent, http: noProxy })).toMatchObject({ result: 'installed', version: '1.0.0' });
      await putObject(deps.s3, stack.bucket, key as string, original);
    } finally {
      deps.destroy();
    }
  });
});

function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

async function listKeys(s3: Awaited<ReturnType<typeof stackRepositoryDeps>>['s3'], prefix: string): Promise<string[]> {
  const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key ?? '');
}
