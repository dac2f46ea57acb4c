/**
 * Reports behind mirrors against the shared local stack, the import and export through
 * the real `signet` command: a forged reports file neither gets in nor halts a rollout (a
 * mirror's reports count for at most its seats of agents, also when the file is signed
 * with a leaked key); a genuine one, made by `export --reports` on an isolated mirror, is
 * counted once even when imported twice; a tampered one is refused; a report with control
 * characters is refused where it enters, and a bad line in the queue holds up nothing;
 * a reports file that is too large, malformed or not an object is one line.
 */
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startMirror } from '../../mirror/index.ts';
import type { RunningMirror } from '../../mirror/index.ts';
import { readRelayKey, relayKeyFor } from '../../mirror/reports.ts';
import type { ReportsBundle } from '../../mirror/reports.ts';
import { paths } from '../../mirror/state.ts';
import { mirrorStatus } from '../../mirror/status.ts';
import { FleetStore } from '#lib/delivery/fleet.ts';
import { localTableName, mainTable } from '#lib/definitions/tables.ts';
import { licenseIdOf } from '#lib/licensing/secrets.ts';
import type { Channel } from '#lib/releases/store.ts';
import { runSignet } from '#test/support/cli.ts';
import { publishVersion } from '#test/support/delivery.ts';
import { admin, createTestLicense, registrationFor } from '#test/support/licensing.ts';

const stack = inject('stack');
const root = join(stack.dataDir, 'root.json');
const run = Date.now().toString(36);
const forgedProduct = `mrep-${run}-forged`;
const genuineProduct = `mrep-${run}-genuine`;
const queueProduct = `mrep-${run}-queue`;
const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
const started: RunningMirror[] = [];
let work: string;
let licenseKey: string;
let connected: RunningMirror & { dir: string };
let isolated: RunningMirror & { dir: string };

const newAgentId = () => randomBytes(16).toString('hex');

async function post(url: string, body: unknown, token?: string): Promise<{ status: number; body: { error?: { code: string; message: string } } & Record<string, unknown> }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as never };
}

async function fleetOf(product: string) {
  return (await admin()).call<{ versions: Array<{ version: string; agents: number; ok: number; failed: number }>; channels: Channel[] }>('GET', `/v1/admin/fleet/${product}`);
}

/** One line on stderr, starting `signet: `, exit 1. */
function expectOneLineFailure(result: { code: number | null; stderr: string }, says: RegExp): void {
  expect(result.code, result.stderr).toBe(1);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(/^signet: /);
  expect(result.stderr).toMatch(says);
}

const importAt = (dir: string, file: string) => runSignet(['mirror', 'import', file, '--data-dir', dir], env);
const exportReportsAt = (dir: string, out: string) => runSignet(['mirror', 'export', '--reports', '--out', out, '--data-dir', dir], env);

async function serve(options: { upstream?: string; licenseKey?: string; seats?: number }): Promise<RunningMirror & { dir: string }> {
  const dir = await mkdtemp(join(work, 'mirror-'));
  const running = await startMirror({ dir, port: 0, host: '127.0.0.1', root, pollSeconds: 86_400, env: {}, ...options });
  started.push(running);
  return Object.assign(running, { dir });
}

/** Reports made by agents registered at the isolated mirror, as agents make them (POST /v1/reports). */
async function agentsReport(product: string, results: ReadonlyArray<'ok' | 'failed'>): Promise<void> {
  for (const result of results) {
    const registered = await post(`${isolated.url}/v1/agents`, registrationFor(licenseKey, { product }));
    expect(registered.status, JSON.stringify(registered.body)).toBe(201);
    expect((await post(`${isolated.url}/v1/reports`, { product, installedVersion: '1.0.0', result }, String(registered.body.token))).status).toBe(202);
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'signet-mirror-reports-'));
  for (const product of [forgedProduct, genuineProduct, queueProduct]) await publishVersion(product, '1.0.0', { 'main.sig': `${product}\n` }, ['--channel', 'stable']);
  licenseKey = (await createTestLicense({ products: [forgedProduct, genuineProduct, queueProduct], seats: 20, expires: new Date(Date.now() + 365 * 86_400_000).toISOString() })).licenseKey;
  connected = await serve({ upstream: stack.baseUrl, licenseKey, seats: 5 });
  isolated = await serve({});
  // The isolated mirror, leased upstream with 5 seats of its own, fed by a bundle from the connected one.
  const bundle = join(work, 'segment.bundle');
  const exported = await runSignet(['mirror', 'export', '--data-dir', connected.dir, '--out', bundle, '--for', isolated.config.mirrorId, '--seats', '5', '--valid-days', '5'], env);
  expect(exported.stderr).toBe('');
  expect((await importAt(isolated.dir, bundle)).code).toBe(0);
  // The bundle carried the isolated mirror's relay key: the one the connected mirror derives for it.
  expect(await readRelayKey(isolated.dir)).toEqual(await relayKeyFor(connected.dir, isolated.config.mirrorId));
  await isolated.reload();
}, 120_000);

afterAll(async () => {
  for (const m of started) await m.stop().catch(() => undefined);
  await rm(work, { recursive: true, force: true });
});

describe('a forged reports file', () => {
  const forged = (mac: string): ReportsBundle => ({
    kind: 'signet-reports/2',
    from: isolated.config.mirrorId,
    licenseId: licenseIdOf(licenseKey),
    keyId: '0'.repeat(16),
    reports: Array.from({ length: 60 }, () => ({ agentId: newAgentId(), product: forgedProduct, installedVersion: '1.0.0', result: 'failed' as const, at: new Date().toISOString() })),
    mac,
  });

  it('without the relay key is refused at import with one line, and nothing is queued', async () => {
    const file = join(work, 'forged.json');
    await writeFile(file, JSON.stringify(forged(randomBytes(32).toString('hex'))));
    expectOneLineFailure(await importAt(connected.dir, file), /forged\.json was not made by mirror [0-9a-f]{32} with the relay key this mirror gave it/);
    expect((await mirrorStatus(connected.dir)).pendingReports).toBe(0);
  });

  it('signed with the key all the same (a leaked bundle): 60 failed reports of random agents count as the isolated mirror\'s 5 seats of agents, and halt nothing', async () => {
    // Written into the isolated mirror's queue by hand and exported there: signed as a genuine file is.
    await writeFile(paths(isolated.dir).reports, forged('').reports.map((r) => `${JSON.stringify(r)}\n`).join(''));
    const file = join(work, 'forged-signed.json');
    expect((await exportReportsAt(isolated.dir, file)).stdout).toMatch(/^wrote .*forged-signed\.json: 60 reports/);
    expect((await importAt(connected.dir, file)).stdout).toMatch(/^queued 60 reports/);
    expect(await connected.sync()).toMatchObject({ result: expect.stringMatching(/ok|up-to-date/) });
    expect((await mirrorStatus(connected.dir)).pendingReports).toBe(0);
    const fleet = await fleetOf(forgedProduct);
    const version = fleet.versions.find((v) => v.version === '1.0.0');
    expect(version?.agents).toBeLessThanOrEqual(5);
    expect(version?.failed).toBeLessThanOrEqual(5);
    expect(fleet.channels.find((c) => c.channel === 'stable')).toMatchObject({ status: 'active' });
  });

  it('relayed by a mirror itself is bounded the same: 60 agents at a mirror with 5 seats count 5, the rest skipped with the reason', async () => {
    const mirrorId = newAgentId();
    expect((await post(`${stack.baseUrl}/v1/mirrors/lease`, { licenseKey, mirrorId, seats: 5 })).status).toBe(200);
    const reports = forged('').reports;
    const answer = await post(`${stack.baseUrl}/v1/mirrors/reports`, { licenseKey, mirrorId, reports });
    expect(answer).toEqual({ status: 202, body: { accepted: 5, skipped: 55, reasons: { "more agents than the mirror's seats": 55 } } });
    // An origin not leased under this license is not taken.
    const foreign = await post(`${stack.baseUrl}/v1/mirrors/reports`, { licenseKey, mirrorId, origin: newAgentId(), reports: reports.slice(0, 3) });
    expect(foreign).toEqual({ status: 202, body: { accepted: 0, skipped: 3, reasons: { 'origin mirror not leased under this license': 3 } } });
    expect((await fleetOf(forgedProduct)).channels.find((c) => c.channel === 'stable')).toMatchObject({ status: 'active' });
    await post(`${stack.baseUrl}/v1/mirrors/lease`, { licenseKey, mirrorId, seats: 0 });
  });
});

describe('a genuine reports file', () => {
  let file: string;

  beforeAll(async () => {
    await agentsReport(genuineProduct, ['ok', 'ok', 'failed']);
    file = join(work, 'genuine.json');
    const exported = await exportReportsAt(isolated.dir, file);
    expect(exported.stdout).toMatch(/^wrote .*genuine\.json: 3 reports; carry it to a mirror that reaches the service/);
  });

  it('made by export --reports on an isolated mirror is taken, and counted once even when imported twice', async () => {
    for (const _ of [1, 2]) {
      const imported = await importAt(connected.dir, file);
      expect(imported.stdout).toMatch(/^queued 3 reports: they go upstream with the next sync/);
      await connected.sync();
      expect((await mirrorStatus(connected.dir)).pendingReports).toBe(0);
      expect((await fleetOf(genuineProduct)).versions.find((v) => v.version === '1.0.0')).toMatchObject({ agents: 3, ok: 2, failed: 1 });
    }
  });

  it('changed in one report, its MAC kept, is refused with one line, and nothing is queued', async () => {
    const bundle = JSON.parse(await readFile(file, 'utf8')) as ReportsBundle;
    const tampered = join(work, 'tampered.json');
    await writeFile(tampered, JSON.stringify({ ...bundle, reports: bundle.reports.map((r, i) => (i === 0 ? { ...r, result: 'failed' } : r)) }));
    expectOneLineFailure(await importAt(connected.dir, tampered), /tampered\.json was not made by mirror .*: its MAC does not match, so it was changed after export; nothing was queued/);
    expect((await mirrorStatus(connected.dir)).pendingReports).toBe(0);
  });
});

describe('a report with control characters', () => {
  it('is refused at the mirror\'s /v1/reports with 400 INVALID_REQUEST naming the field', async () => {
    const registered = await post(`${connected.url}/v1/agents`, registrationFor(licenseKey, { product: queueProduct }));
    const answer = await post(`${connected.url}/v1/reports`, { product: queueProduct, installedVersion: '1.0.0', result: 'failed', detail: 'disk\u001b[2Jfull' }, String(registered.body.token));
    expect(answer.status).toBe(400);
    expect(answer.body.error).toEqual({ code: 'INVALID_REQUEST', message: 'detail: must not contain control characters' });
  });

  it('is refused at import with one line', async () => {
    const file = join(work, 'control.json');
    const report = { agentId: newAgentId(), product: queueProduct, installedVersion: '1.0.0', result: 'ok', detail: 'a\r\nforged line', at: new Date().toISOString() };
    await writeFile(file, JSON.stringify({ kind: 'signet-reports/2', from: isolated.config.mirrorId, licenseId: licenseIdOf(licenseKey), keyId: '0'.repeat(16), reports: [report], mac: '0'.repeat(64) }));
    expectOneLineFailure(await importAt(connected.dir, file), /control\.json is not a valid reports file \(reports\.0\.detail must not contain control characters\)/);
  });

  it('in the queue holds up nothing: the good reports behind it are delivered, it is dropped', async () => {
    const good = (i: number) => ({ agentId: newAgentId(), product: queueProduct, installedVersion: '1.0.0', result: 'ok', at: new Date(Date.now() - i * 1000).toISOString() });
    const bad = { ...good(3), detail: 'bell\u0007' };
    await appendFile(paths(connected.dir).reports, [good(1), bad, good(2)].map((r) => `${JSON.stringify(r)}\n`).join(''));
    await connected.sync();
    expect((await mirrorStatus(connected.dir)).pendingReports).toBe(0);
    expect((await fleetOf(queueProduct)).versions.find((v) => v.version === '1.0.0')).toMatchObject({ agents: 2, ok: 2 });
  });
});

describe('a reports file that is not one', () => {
  it.each([
    ['too large', async (f: string) => {
      await writeFile(f, '{');
      await truncate(f, 64 * 1024 * 1024 + 1);
    }, /is 64\.0 MiB: a reports file is at most 64 MiB/],
    ['malformed', (f: string) => writeFile(f, '{"kind":"signet-reports/2","reports":[{"agentId":'), /is not a reports file: it is not valid JSON/],
    ['not an object', (f: string) => writeFile(f, '[{"agentId":"x"}]'), /is not a reports file: it holds an array/],
    ['reports not a list', (f: string) => writeFile(f, `{"kind":"signet-reports/2","from":"${'a'.repeat(32)}","licenseId":"${'b'.repeat(32)}","keyId":"${'0'.repeat(16)}","reports":{"0":1},"mac":"${'0'.repeat(64)}"}`), /reports must be an array/],
  ])('%s: one line naming the file and what to do, nothing queued', async (name, make, says) => {
    const file = join(work, `${name.replace(/ /g, '-')}.json`);
    await make(file);
    const result = await importAt(connected.dir, file);
    expectOneLineFailure(result, says);
    expect(result.stderr).toContain(file);
    expect((await mirrorStatus(connected.dir)).pendingReports).toBe(0);
    await rm(file, { force: true });
  });
});

describe('relayed-agent slots in DynamoDB', () => {
  it('lets at most `seats` agents of a mirror hold one per product, and frees one silent longer than reclaimAfterDays', async () => {
    const dynamodb = new DynamoDBClient({ endpoint: stack.dynamodbEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    try {
      const fleet = new FleetStore(DynamoDBDocumentClient.from(dynamodb, { marshallOptions: { removeUndefinedValues: true } }), localTableName(mainTable));
      const mirrorId = newAgentId();
      const product = `mrep-${run}-slots`;
      const then = new Date(Date.now() - 40 * 86_400_000);
      const now = new Date();
      const record = (agentId: string, at: Date, holdsSlot = false, previousVersion?: string) =>
        fleet.recordRelayed({ mirrorId, licenseId: 'l'.repeat(32), agentId, product, previous: previousVersion === undefined ? undefined : { version: previousVersion, result: 'ok' }, holdsSlot, seats: 2, version: '1.0.0', result: 'ok', at: at.toISOString(), now: at });
      const [a, b, c] = [newAgentId(), newAgentId(), newAgentId()];
      expect(await record(a, then)).toBe('recorded');
      expect(await record(b, now)).toBe('recorded');
      expect(await record(c, now)).toBe('full');
      expect(await fleet.relayedSlotsTaken(mirrorId, product)).toBe(2);
      // A holder goes on counting; the same report again is stale.
      expect(await record(b, new Date(now.getTime() + 1), true, '1.0.0')).toBe('recorded');
      expect(await record(b, new Date(now.getTime() + 1), true, '1.0.0')).toBe('stale');
      // Nothing silent for 30 days but a: its slot, and only its.
      const silentBefore = new Date(now.getTime() - 30 * 86_400_000).toISOString();
      expect(await fleet.reclaimRelayedSlot(mirrorId, product, silentBefore, now)).toBe(true);
      expect(await fleet.reclaimRelayedSlot(mirrorId, product, silentBefore, now)).toBe(false);
      expect(await fleet.relayedAgent(mirrorId, product, a)).toMatchObject({ holdsSlot: false, lastReportAt: then.toISOString() });
      expect(await record(c, now)).toBe('recorded');
      // a, back, finds the slots taken again.
      expect(await record(a, now, false, '1.0.0')).toBe('full');
      expect(await fleet.relayedSlotsTaken(mirrorId, product)).toBe(2);
    } finally {
      dynamodb.destroy();
    }
  });
});
