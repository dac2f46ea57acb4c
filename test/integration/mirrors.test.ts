/**
 * The site mirrors' endpoints against the real local stack: leases (seats, signature,
 * contents), relayed reports (fleet, duplicates, auto-halt) and offline timestamps.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Root } from '@tufjs/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { machineHashOf } from '#lib/licensing/secrets.ts';
import type { SignedLease } from '#lib/mirror/lease.ts';
import { DEFAULT_LEASE_DAYS, verifyLease } from '#lib/mirror/lease.ts';
import { consistentName } from '#lib/releases/set-manifest.ts';
import type { Channel } from '#lib/releases/store.ts';
import { parseRoot, parseTimestamp, verifyRole } from '#lib/tuf/metadata.ts';
import { promoteTo, publishVersion } from '#test/support/delivery.ts';
import { admin, createTestLicense, stackInfo } from '#test/support/licensing.ts';

const PRODUCT = 'mirror-av';
const files = (tag: string) => ({ 'main.sig': `main ${tag}`, 'daily.sig': `daily ${tag}` });
const DAY = 86_400_000;

const newMirrorId = () => randomBytes(16).toString('hex');
/** A license that outlives every offline timestamp asked for here (they never outlive the license). */
const yearFromNow = () => new Date(Date.now() + 365 * DAY).toISOString();
const agentId = (i: number) => createHash('sha256').update(`agent ${i} ${Math.random()}`).digest('hex').slice(0, 32);

interface Answer {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; message: string } };
}

async function post(path: string, body: unknown): Promise<Answer> {
  const response = await fetch(`${stackInfo().baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

interface LeaseAnswer {
  lease: SignedLease;
  grants: Record<string, { query: string; expiresAt: string }>;
  metadataUrl: string;
  targetsUrl: string;
  pollSeconds: number;
}

const lease = (body: Record<string, unknown>) => post('/v1/mirrors/lease', body);
const relay = (body: Record<string, unknown>) => post('/v1/mirrors/reports', body);
const offline = (body: Record<string, unknown>) => post('/v1/mirrors/offline-timestamp', body);

async function seatsUsed(licenseId: string): Promise<number> {
  return (await (await admin()).call<{ license: { seatsUsed: number } }>('GET', `/v1/admin/licenses/${licenseId}`)).license.seatsUsed;
}

async function trustedRoot(): Promise<Root> {
  return parseRoot(await readFile(join(stackInfo().dataDir, 'root.json'))).signed;
}

async function onlineTimestamp() {
  return parseTimestamp(Buffer.from(await (await fetch(`${stackInfo().baseUrl}/metadata/timestamp.json`)).arrayBuffer()));
}

async function fleetOf(product: string) {
  return (await admin()).call<{ versions: Array<{ version: string; agents: number; ok: number; failed: number }>; channels: Channel[] }>('GET', `/v1/admin/fleet/${product}`);
}

beforeAll(async () => {
  await publishVersion(PRODUCT, '1.0.0', files('m1'));
  await publishVersion(PRODUCT, '1.1.0', files('m2'));
  await promoteTo(PRODUCT, 'stable', '1.0.0', 100);
  await promoteTo(PRODUCT, 'stable', '1.1.0', 10);
}, 120_000);

describe('POST /v1/mirrors/lease', () => {
  it('answers a lease that verifies against the stack\'s root, with the license\'s key hash, products, blacklist and channels, and grants that open the targets', async () => {
    const { licenseKey, license } = await createTestLicense({ products: [PRODUCT, 'mirror-empty-av'], seats: 5, expires: new Date(Date.now() + 30 * DAY).toISOString() });
    const blacklisted = `mirror-bl-${randomBytes(4).toString('hex')}`;
    await (await admin()).call('PUT', `/v1/admin/blacklist/${blacklisted}`, { reason: 'mirror test' });
    const mirrorId = newMirrorId();
    const before = Date.now();
    const answer = await lease({ licenseKey, mirrorId, seats: 2 });
    expect(answer.status).toBe(200);
    const issued = answer.body as unknown as LeaseAnswer;

    const verdict = verifyLease(issued.lease, await trustedRoot(), { mirrorId, licenseId: license.licenseId, now: new Date() });
    expect(verdict).toMatchObject({ ok: true });
    const payload = issued.lease.signed;
    expect(payload).toMatchObject({ mirrorId, licenseId: license.licenseId, customer: license.customer, products: [PRODUCT, 'mirror-empty-av'], licenseStatus: 'active', licenseExpiresAt: license.expiresAt, seats: 2, reclaimAfterDays: 30 });
    expect(payload.keyHash).toBe(createHash('sha256').update(licenseKey.replace(/-/g, '').toUpperCase()).digest('hex'));
    expect(JSON.stringify(issued)).not.toContain(licenseKey);
    expect(payload.blacklist).toContain(machineHashOf(blacklisted));
    expect(payload.channels).toEqual([expect.objectContaining({ product: PRODUCT, channel: 'stable', version: '1.1.0', percent: 10, previousVersion: '1.0.0', status: 'active' })]);
    const expiresIn = Date.parse(payload.expiresAt) - before;
    expect(expiresIn).toBeGreaterThan(DEFAULT_LEASE_DAYS * DAY - 60_000);
    expect(expiresIn).toBeLessThan(DEFAULT_LEASE_DAYS * DAY + 60_000);

    const { baseUrl } = stackInfo();
    expect(issued).toMatchObject({ metadataUrl: `${baseUrl}/metadata/`, targetsUrl: `${baseUrl}/targets/`, pollSeconds: 900 });
    expect(Object.keys(issued.grants).sort()).toEqual(['mirror-av', 'mirror-empty-av']);
    const setManifest = payload.channels[0]?.setManifest ?? '';
    const sha = setManifest.split('/')[1] ?? '';
    expect((await fetch(`${issued.targetsUrl}${consistentName(setManifest, sha)}?${issued.grants[PRODUCT]?.query}`)).status).toBe(200);
    expect((await fetch(`${issued.targetsUrl}${consistentName(setManifest, sha)}?${issued.grants['mirror-empty-av']?.query}`)).status).toBe(403);
  });

  it('takes seats from the license exactly: A 3 of 5, B 3 refused SEATS_EXHAUSTED, A down to 1, then B 3; the same seats again only renews', async () => {
    const { licenseKey, license } = await createTestLicense({ products: [PRODUCT], seats: 5 });
    const a = newMirrorId();
    const b = newMirrorId();
    expect((await lease({ licenseKey, mirrorId: a, seats: 3 })).status).toBe(200);
    expect(await seatsUsed(license.licenseId)).toBe(3);
    const refused = await lease({ licenseKey, mirrorId: b, seats: 3 });
    expect(refused.status).toBe(409);
    expect(refused.body.error?.code).toBe('SEATS_EXHAUSTED');
    expect(await seatsUsed(license.licenseId)).toBe(3);
    expect((await lease({ licenseKey, mirrorId: a, seats: 1 })).status).toBe(200);
    expect(await seatsUsed(license.licenseId)).toBe(1);
    expect((await lease({ licenseKey, mirrorId: b, seats: 3 })).status).toBe(200);
    expect(await seatsUsed(license.licenseId)).toBe(4);
    const renewed = await lease({ licenseKey, mirrorId: b, seats: 3, validDays: 2 });
    expect(renewed.status).toBe(200);
    expect((renewed.body as unknown as LeaseAnswer).lease.signed.seats).toBe(3);
    expect(await seatsUsed(license.licenseId)).toBe(4);
    const shown = await (await admin()).call<{ mirrors: Array<{ mirrorId: string; seats: number }> }>('GET', `/v1/admin/licenses/${license.licenseId}`);
    expect(shown.mirrors.map((m) => [m.mirrorId, m.seats]).sort()).toEqual([[a, 1], [b, 3]].sort());
  });

  it('never gives 20 mirrors asking at once more seats than the license has', async () => {
    const { licenseKey, license } = await createTestLicense({ products: [PRODUCT], seats: 5 });
    const asks = Array.from({ length: 20 }, (_, i) => ({ mirrorId: newMirrorId(), seats: (i % 3) + 1 }));
    const answers = await Promise.all(asks.map((ask) => lease({ licenseKey, ...ask })));
    for (const answer of answers) {
      expect([200, 409], JSON.stringify(answer.body)).toContain(answer.status);
      if (answer.status === 409) expect(answer.body.error?.code).toBe('SEATS_EXHAUSTED');
    }
    const granted = answers.reduce((sum, answer, i) => sum + (answer.status === 200 ? (asks[i]?.seats ?? 0) : 0), 0);
    expect(granted).toBeGreaterThan(0);
    expect(granted).toBeLessThanOrEqual(5);
    expect(await seatsUsed(license.licenseId)).toBe(granted);
  }, 60_000);

  it('refuses a mirror id another license holds (409 CONFLICT) and takes no seat from the second license', async () => {
    const first = await createTestLicense({ products: [PRODUCT], seats: 5 });
    const second = await createTestLicense({ products: [PRODUCT], seats: 5 });
    const mirrorId = newMirrorId();
    expect((await lease({ licenseKey: first.licenseKey, mirrorId, seats: 1 })).status).toBe(200);
    const refused = await lease({ licenseKey: second.licenseKey, mirrorId, seats: 1 });
    expect(refused.status).toBe(409);
    expect(refused.body.error?.code).toBe('CONFLICT');
    expect(await seatsUsed(second.license.licenseId)).toBe(0);
  });

  it('refuses a suspended license (403 LICENSE_SUSPENDED) on every mirror route, and an unknown key (401 LICENSE_INVALID)', async () => {
    const { licenseKey, license } = await createTestLicense({ products: [PRODUCT], seats: 5 });
    const mirrorId = newMirrorId();
    expect((await lease({ licenseKey, mirrorId, seats: 1 })).status).toBe(200);
    await (await admin()).call('POST', `/v1/admin/licenses/${license.licenseId}/suspend`);
    for (const answer of [
      await lease({ licenseKey, mirrorId, seats: 1 }),
      await relay({ licenseKey, mirrorId, reports: [{ agentId: agentId(1), product: PRODUCT, installedVersion: '1.0.0', result: 'ok', at: new Date().toISOString() }] }),
      await offline({ licenseKey, mirrorId, validDays: 1 }),
    ]) {
      expect(answer.status).toBe(403);
      expect(answer.body.error?.code).toBe('LICENSE_SUSPENDED');
    }
    const unknown = await lease({ licenseKey: 'SIG-AAAAA-BBBBB-CCCCC', mirrorId, seats: 1 });
    expect(unknown.status).toBe(401);
    expect(unknown.body.error?.code).toBe('LICENSE_INVALID');
  });

  it.each([
    [{ mirrorId: 'not-hex', seats: 1 }, 'mirrorId'],
    [{ seats: 1 }, 'mirrorId'],
    [{ mirrorId: 'a'.repeat(32), seats: -1 }, 'seats'],
    [{ mirrorId: 'a'.repeat(32), seats: 'two' }, 'seats'],
    [{ mirrorId: 'a'.repeat(32), seats: 1, validDays: 0 }, 'validDays'],
    [{ mirrorId: 'a'.repeat(32), seats: 1, extra: true }, 'extra'],
  ])('answers %j with 400 naming %s', async (body, field) => {
    const answer = await lease({ licenseKey: 'SIG-X', ...body });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('INVALID_REQUEST');
    expect(answer.body.error?.message.startsWith(`${field}:`)).toBe(true);
  });
});

describe('POST /v1/mirrors/reports', () => {
  it('counts relayed reports in the fleet view, once even when relayed twice, and skips what cannot count', async () => {
    const product = 'mirror-fleet-av';
    await publishVersion(product, '1.0.0', files('f1'));
    await publishVersion(product, '1.1.0', files('f2'));
    const { licenseKey } = await createTestLicense({ products: [product], seats: 5 });
    const mirrorId = newMirrorId();
    expect((await lease({ licenseKey, mirrorId, seats: 3 })).status).toBe(200);
    const [a, b] = [agentId(1), agentId(2)];
    const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();
    const reports = [
      { agentId: a, product, installedVersion: '1.0.0', result: 'ok', at: at(10) },
      { agentId: b, product, installedVersion: '1.0.0', result: 'ok', at: at(10) },
      { agentId: a, product, installedVersion: '1.1.0', result: 'failed', detail: 'disk full', at: at(5) },
      { agentId: b, product: 'not-entitled-av', installedVersion: '1.0.0', result: 'ok', at: at(5) },
      { agentId: b, product, installedVersion: '9.9.9', result: 'ok', at: at(5) },
    ];
    const first = await relay({ licenseKey, mirrorId, reports });
    expect(first).toEqual({ status: 202, body: { accepted: 3, skipped: 2, reasons: { 'product not entitled': 1, 'version never released': 1 } } });
    const again = await relay({ licenseKey, mirrorId, reports });
    expect(again).toEqual({ status: 202, body: { accepted: 0, skipped: 5, reasons: { 'product not entitled': 1, 'version never released': 1, "not newer than its agent's last report": 3 } } });
    // Agents, by their last report: a moved to 1.1.0, so only b counts on 1.0.0.
    expect((await fleetOf(product)).versions).toEqual([
      { version: '1.1.0', agents: 1, ok: 0, failed: 1, lastReportAt: expect.any(String) },
      { version: '1.0.0', agents: 1, ok: 1, failed: 0, lastReportAt: expect.any(String) },
    ]);
  });

  it('refuses a mirror never leased under the license (404 NOT_FOUND) and bad reports (400 naming the field)', async () => {
    const { licenseKey } = await createTestLicense({ products: [PRODUCT], seats: 5 });
    const report = { agentId: agentId(1), product: PRODUCT, installedVersion: '1.0.0', result: 'ok', at: new Date().toISOString() };
    const unknown = await relay({ licenseKey, mirrorId: newMirrorId(), reports: [report] });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error?.code).toBe('NOT_FOUND');
    for (const [reports, field] of [
      [[], 'reports'],
      [Array.from({ length: 501 }, () => report), 'reports'],
      [[{ ...report, result: 'maybe' }], 'reports.0.result'],
      [[{ ...report, at: 'now' }], 'reports.0.at'],
      [[{ ...report, agentId: 'x' }], 'reports.0.agentId'],
      [[{ ...report, detail: 'a\r\nforged' }], 'reports.0.detail'],
    ] as const) {
      const answer = await relay({ licenseKey, mirrorId: newMirrorId(), reports });
      expect(answer.status, field).toBe(400);
      expect(answer.body.error?.message.startsWith(`${field}:`), answer.body.error?.message).toBe(true);
    }
  });

  it('halts a rollout when relayed reports of its version fail too often, and moves the snapshot timestamp.json names', async () => {
    const product = 'mirror-halt-av';
    await publishVersion(product, '1.0.0', files('h1'));
    await publishVersion(product, '2.0.0', files('h2'));
    await promoteTo(product, 'stable', '1.0.0', 100);
    await promoteTo(product, 'stable', '2.0.0', 50);
    // 20 agents behind the mirror: it holds 20 seats (only that many of its agents count).
    const { licenseKey } = await createTestLicense({ products: [product], seats: 20 });
    const mirrorId = newMirrorId();
    expect((await lease({ licenseKey, mirrorId, seats: 20 })).status).toBe(200);
    const before = (await onlineTimestamp()).signed.snapshotMeta.version;
    // 20 reports of the rolling version, 5 failed: 25% >= the default 20% of at least 20 reports.
    const reports = Array.from({ length: 20 }, (_, i) => ({ agentId: agentId(i), product, installedVersion: '2.0.0', result: i < 5 ? 'failed' : 'ok', at: new Date().toISOString() }));
    expect(await relay({ licenseKey, mirrorId, reports })).toEqual({ status: 202, body: { accepted: 20, skipped: 0 } });
    const fleet = await fleetOf(product);
    expect(fleet.channels.find((c) => c.channel === 'stable')).toMatchObject({ status: 'halted', updatedBy: 'signet:auto-halt' });
    expect(fleet.versions.find((v) => v.version === '2.0.0')).toEqual({ version: '2.0.0', agents: 20, ok: 15, failed: 5, lastReportAt: expect.any(String) });
    expect((await onlineTimestamp()).signed.snapshotMeta.version).toBeGreaterThan(before);
  });
});

describe('POST /v1/mirrors/offline-timestamp', () => {
  it('signs a timestamp the root\'s timestamp keys verify, for the current snapshot, valid validDays, never reused by timestamp.json', async () => {
    const { licenseKey } = await createTestLicense({ products: [PRODUCT], seats: 5, expires: yearFromNow() });
    const mirrorId = newMirrorId();
    expect((await lease({ licenseKey, mirrorId, seats: 1 })).status).toBe(200);
    const online = await onlineTimestamp();
    const asked = Date.now();
    const answer = await offline({ licenseKey, mirrorId, validDays: 10 });
    expect(answer.status).toBe(200);
    const body = answer.body as { timestamp: unknown; snapshotVersion: number; timestampVersion: number; expires: string };
    const timestamp = parseTimestamp(JSON.stringify(body.timestamp));
    expect(verifyRole(await trustedRoot(), 'timestamp', timestamp)).toBe(true);
    expect(timestamp.signed.version).toBe(body.timestampVersion);
    expect(timestamp.signed.version).toBeGreaterThan(online.signed.version);
    expect(timestamp.signed.expires).toBe(body.expires);
    expect(Math.abs(Date.parse(body.expires) - (asked + 10 * DAY))).toBeLessThan(60_000);

    // It names the current snapshot, byte for byte.
    const state = (await (await admin()).call<{ state: { snapshotVersion: number } }>('GET', '/v1/admin/repository')).state;
    expect(timestamp.signed.snapshotMeta.version).toBe(state.snapshotVersion);
    expect(body.snapshotVersion).toBe(state.snapshotVersion);
    const snapshotBytes = Buffer.from(await (await fetch(`${stackInfo().baseUrl}/metadata/${state.snapshotVersion}.snapshot.json`)).arrayBuffer());
    expect(timestamp.signed.snapshotMeta.hashes?.sha256).toBe(createHash('sha256').update(snapshotBytes).digest('hex'));

    // Not written to timestamp.json; the next one written goes above it.
    expect((await onlineTimestamp()).signed.version).toBe(online.signed.version);
    await promoteTo(PRODUCT, 'stable', '1.1.0', 20);
    expect((await onlineTimestamp()).signed.version).toBeGreaterThan(body.timestampVersion);
  });

  it('moves the snapshot first when it would expire before the timestamp, so the whole chain holds', async () => {
    const { licenseKey } = await createTestLicense({ products: [PRODUCT], seats: 5, expires: yearFromNow() });
    const mirrorId = newMirrorId();
    expect((await lease({ licenseKey, mirrorId, seats: 1 })).status).toBe(200);
    const before = (await onlineTimestamp()).signed.snapshotMeta.version;
    await new Promise((r) => setTimeout(r, 1100)); // the current snapshot (30 days) now expires a second before a 30-day timestamp would
    const answer = await offline({ licenseKey, mirrorId, validDays: 30 });
    expect(answer.status).toBe(200);
    const body = answer.body as { snapshotVersion: number; expires: string };
    expect(body.snapshotVersion).toBeGreaterThan(before);
    const snapshot = (await (await fetch(`${stackInfo().baseUrl}/metadata/${body.snapshotVersion}.snapshot.json`)).json()) as { signed: { expires: string } };
    expect(Date.parse(snapshot.signed.expires)).toBeGreaterThanOrEqual(Date.parse(body.expires));
  });

  it('never outlives the license: with 3 days of it left, 10 days asked give 3, as the lease does', async () => {
    const expires = new Date(Date.now() + 3 * DAY).toISOString();
    const { licenseKey } = await createTestLicense({ products: [PRODUCT], seats: 5, expires });
    const mirrorId = newMirrorId();
    const leased = await lease({ licenseKey, mirrorId, seats: 1, validDays: 10 });
    expect(leased.status).toBe(200);
    const answer = await offline({ licenseKey, mirrorId, validDays: 10 });
    expect(answer.status).toBe(200);
    const body = answer.body as { expires: string };
    expect(Date.parse(body.expires)).toBeLessThanOrEqual(Date.parse(expires));
    expect(Date.parse(expires) - Date.parse(body.expires)).toBeLessThan(1000);
  });

  it('refuses a mirror never leased (404 NOT_FOUND) and a validity outside 1 to 30 days (400 naming validDays)', async () => {
    const { licenseKey } = await createTestLicense({ products: [PRODUCT], seats: 5 });
    const unknown = await offline({ licenseKey, mirrorId: newMirrorId(), validDays: 1 });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error?.code).toBe('NOT_FOUND');
    for (const validDays of [0, 31, 1.5, '7']) {
      const answer = await offline({ licenseKey, mirrorId: newMirrorId(), validDays });
      expect(answer.status).toBe(400);
      expect(answer.body.error?.message.startsWith('validDays:')).toBe(true);
    }
  });
});
