import { consistentName } from '#lib/releases/set-manifest.ts';
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { admin, createTestLicense, stackInfo } from '#test/support/licensing.ts';
import { runSignet } from '#test/support/cli.ts';
import { inWave } from '#lib/releases/channels.ts';
import { agentFor, haltChannel, licensedAgent, manifest, pool, promoteTo, publishVersion, report, reportAsAgent } from '#test/support/delivery.ts';

const PRODUCT = 'manifest-av';
const files = (tag: string) => ({ 'main.sig': `main ${tag}`, 'daily.sig': `daily ${tag}`, 'engine.cfg': 'engine' });

beforeAll(async () => {
  await publishVersion(PRODUCT, '1.0.0', files('v1'));
  await publishVersion(PRODUCT, '2.0.0', files('v2'));
  await promoteTo(PRODUCT, 'stable', '1.0.0', 100);
  await promoteTo(PRODUCT, 'stable', '2.0.0', 10);
}, 120_000);

describe('POST /v1/manifest for a licensed agent', () => {
  it('answers the channel version, its set manifest, the URLs and a download grant that opens its files', async () => {
    const { token } = await licensedAgent(PRODUCT);
    const result = await manifest(token, { product: PRODUCT, installedVersion: '2.0.0' });
    expect(result.status).toBe(200);
    const { baseUrl } = stackInfo();
    expect(result.body).toMatchObject({
      product: PRODUCT,
      channel: 'stable',
      version: '2.0.0',
      setManifest: expect.stringMatching(new RegExp(`^${PRODUCT}/[0-9a-f]{64}/set-2\\.0\\.0\\.json$`)),
      metadataUrl: `${baseUrl}/metadata/`,
      targetsUrl: `${baseUrl}/targets/`,
      pollSeconds: 900,
    });
    // Each target is served at its consistent-snapshot name, `<dir>/<sha256>.<basename>`.
    const setSha = result.body.setManifest.split('/')[1] ?? '';
    const set = await fetch(`${result.body.targetsUrl}${consistentName(result.body.setManifest, setSha)}?${result.body.download.query}`);
    expect(set.status).toBe(200);
    const manifestFile = (await set.json()) as { files: Array<{ target: string; sha256: string }> };
    for (const file of manifestFile.files) {
      const download = await fetch(`${result.body.targetsUrl}${consistentName(file.target, file.sha256)}?${result.body.download.query}`);
      expect(download.status).toBe(200);
      expect(createHash('sha256').update(Buffer.from(await download.arrayBuffer())).digest('hex')).toBe(file.sha256);
    }
  });

  it('never offers a version lower than the one the agent reports', async () => {
    const { token } = await licensedAgent(PRODUCT);
    const result = await manifest(token, { product: PRODUCT, installedVersion: '2.0.0' });
    expect(result.body.version).toBe('2.0.0');
  });

  it('reuses one grant signature for many requests of a product', async () => {
    const { token } = await licensedAgent(PRODUCT);
    const grants = await Promise.all(Array.from({ length: 20 }, () => manifest(token, { product: PRODUCT })));
    expect(new Set(grants.map((g) => g.body.download.query)).size).toBeLessThanOrEqual(2); // 2 only if a renewal fell in between
  });

  it('refuses a grant for one product on another product\'s files (403)', async () => {
    const { token } = await licensedAgent(PRODUCT);
    const result = await manifest(token, { product: PRODUCT });
    const foreign = await fetch(`${result.body.targetsUrl}demo-av/${'0'.repeat(64)}.main.sig?${result.body.download.query}`);
    expect(foreign.status).toBe(403);
  });

  it('answers 404 NOT_FOUND for a channel with nothing released', async () => {
    const { token } = await licensedAgent(PRODUCT);
    const result = await manifest(token, { product: PRODUCT, channel: 'beta' });
    expect(result.status).toBe(404);
    expect(result.body.error?.code).toBe('NOT_FOUND');
  });

  it.each([
    [{ product: PRODUCT, extra: 1 }, 'extra: is not a known field'],
    [{ product: PRODUCT, installedVersion: 'latest' }, 'installedVersion: has characters or a form that is not allowed'],
    [{}, 'product: is required'],
  ])('refuses the body %j with 400 naming the field', async (body, message) => {
    const { token } = await licensedAgent(PRODUCT);
    const result = await manifest(token, body);
    expect(result.status).toBe(400);
    expect(result.body.error).toEqual({ code: 'INVALID_REQUEST', message });
  });
});

describe('rate limits', () => {
  it('answers an agent over its rate with 429 RATE_LIMITED and Retry-After, and no 5xx', async () => {
    const { token } = await licensedAgent(PRODUCT);
    const results = await Promise.all(
      Array.from({ length: 45 }, () =>
        fetch(`${stackInfo().baseUrl}/v1/manifest`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ product: PRODUCT }) }),
      ),
    );
    const limited = results.filter((r) => r.status === 429);
    expect(results.filter((r) => r.status === 200).length).toBeLessThanOrEqual(30);
    expect(results.filter((r) => r.status >= 500)).toEqual([]);
    expect(limited.length).toBeGreaterThan(0);
    expect(Number(limited[0]?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await limited[0]?.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
    await Promise.all(results.map((r) => (r.bodyUsed ? undefined : r.arrayBuffer())));
  });
});

describe('POST /v1/manifest under each license state', () => {
  it('refuses a suspended license (403 LICENSE_SUSPENDED) and serves again once resumed', async () => {
    const { token, license } = await licensedAgent(PRODUCT);
    const client = await admin();
    await client.call('POST', `/v1/admin/licenses/${license.licenseId}/suspend`);
    expect((await manifest(token, { product: PRODUCT })).body.error?.code).toBe('LICENSE_SUSPENDED');
    await client.call('POST', `/v1/admin/licenses/${license.licenseId}/resume`);
    expect((await manifest(token, { product: PRODUCT })).status).toBe(200);
  });

  it('refuses a revoked license (403 LICENSE_REVOKED)', async () => {
    const { token, license } = await licensedAgent(PRODUCT);
    await (await admin()).call('POST', `/v1/admin/licenses/${license.licenseId}/revoke`);
    const result = await manifest(token, { product: PRODUCT });
    expect(result.status).toBe(403);
    expect(result.body.error?.code).toBe('LICENSE_REVOKED');
  });

  it('refuses an expired license (403 LICENSE_EXPIRED)', async () => {
    const { licenseKey } = await createTestLicense({ products: [PRODUCT], expires: new Date(Date.now() + 1500).toISOString() });
    const { token } = await agentFor(licenseKey, PRODUCT);
    await new Promise((r) => setTimeout(r, 1600));
    expect((await manifest(token, { product: PRODUCT })).body.error?.code).toBe('LICENSE_EXPIRED');
  });

  it('refuses a blacklisted computer (403 COMPUTER_BLACKLISTED)', async () => {
    const { licenseKey } = await createTestLicense({ products: [PRODUCT] });
    const { token } = await agentFor(licenseKey, PRODUCT, 'manifest-blacklisted-pc');
    await (await admin()).call('PUT', '/v1/admin/blacklist/manifest-blacklisted-pc', {});
    expect((await manifest(token, { product: PRODUCT })).body.error?.code).toBe('COMPUTER_BLACKLISTED');
  });

  it('refuses an agent registered as Manifest-Case-PC once manifest-case-pc is blacklisted (403 COMPUTER_BLACKLISTED)', async () => {
    const { licenseKey } = await createTestLicense({ products: [PRODUCT] });
    const { token } = await agentFor(licenseKey, PRODUCT, 'Manifest-Case-PC');
    expect((await manifest(token, { product: PRODUCT })).status).toBe(200);
    await (await admin()).call('PUT', '/v1/admin/blacklist/manifest-case-pc', {});
    expect((await manifest(token, { product: PRODUCT })).body.error?.code).toBe('COMPUTER_BLACKLISTED');
  });

  it('refuses a product the agent is not registered for (403 PRODUCT_NOT_ENTITLED)', async () => {
    const { token } = await licensedAgent(PRODUCT);
    expect((await manifest(token, { product: 'demo-av' })).body.error?.code).toBe('PRODUCT_NOT_ENTITLED');
  });

  it('refuses a revoked agent (403 AGENT_REVOKED) and a bad token (401 INVALID_CREDENTIALS)', async () => {
    const { token, agentId } = await licensedAgent(PRODUCT);
    await (await admin()).call('POST', `/v1/admin/agents/${agentId}/revoke`);
    expect((await manifest(token, { product: PRODUCT })).body.error?.code).toBe('AGENT_REVOKED');
    expect((await manifest('sgt1.nope', { product: PRODUCT })).body.error?.code).toBe('INVALID_CREDENTIALS');
  });
});

describe('rollout waves', () => {
  it('gives the 10% wave of 1,000 agents the new version and the rest the previous one; halting takes it back', async () => {
    const { licenseKey } = await createTestLicense({ products: [PRODUCT], seats: 1000 });
    const agents = await pool(Array.from({ length: 1000 }, (_, i) => i), 16, (i) => agentFor(licenseKey, PRODUCT, `wave-${i}`));
    const offered = await pool(agents, 16, async (a) => (await manifest(a.token, { product: PRODUCT })).body.version);
    // Exactly the agents the wave rule picks for their (random) ids; about 10% of them: the
    // count is binomial (sd 9.5), so the bound is 5 sd wide, not a test that fails 1 run in 30.
    expect(offered).toEqual(agents.map(({ agentId }) => (inWave(agentId, '2.0.0', 10) ? '2.0.0' : '1.0.0')));
    const onNew = offered.filter((v) => v === '2.0.0').length;
    expect(onNew).toBeGreaterThanOrEqual(50);
    expect(onNew).toBeLessThanOrEqual(150);

    await haltChannel(PRODUCT, 'stable');
    try {
      const afterHalt = await pool(agents.slice(0, 200), 16, async (a) => (await manifest(a.token, { product: PRODUCT })).body.version);
      expect(new Set(afterHalt)).toEqual(new Set(['1.0.0']));
    } finally {
      await promoteTo(PRODUCT, 'stable', '2.0.0', 10);
    }
  }, 180_000);
});

describe('POST /v1/reports and the fleet', () => {
  it('keeps counters per version that signet fleet shows, and moves an agent between versions', async () => {
    const product = 'fleet-av';
    await publishVersion(product, '1.0.0', files('f1'));
    await publishVersion(product, '1.1.0', files('f2'));
    await promoteTo(product, 'stable', '1.1.0', 100);
    const { licenseKey } = await createTestLicense({ products: [product], seats: 10 });
    const a = await agentFor(licenseKey, product);
    const b = await agentFor(licenseKey, product);
    expect(await report(a.token, { product, installedVersion: '1.0.0', result: 'ok' })).toBe(202);
    expect(await report(b.token, { product, installedVersion: '1.0.0', result: 'ok' })).toBe(202);
    expect(await report(a.token, { product, installedVersion: '1.1.0', result: 'failed', detail: 'disk full' })).toBe(202);

    const fleet = await (await admin()).call<{ versions: Array<{ version: string; agents: number; ok: number; failed: number }> }>('GET', `/v1/admin/fleet/${product}`);
    // Agents are counted by their last report: a left 1.0.0, so only b counts there.
    expect(fleet.versions).toEqual([
      { version: '1.1.0', agents: 1, ok: 0, failed: 1, lastReportAt: expect.any(String) },
      { version: '1.0.0', agents: 1, ok: 1, failed: 0, lastReportAt: expect.any(String) },
    ]);
  });

  it('counts each agent once when 300 report at once, every report sent twice (a retry after a lost answer)', async () => {
    const product = 'storm-av';
    await publishVersion(product, '1.0.0', files('s1'));
    await promoteTo(product, 'stable', '1.0.0', 100);
    const { licenseKey } = await createTestLicense({ products: [product], seats: 300 });
    const agents = await pool(Array.from({ length: 300 }, (_, i) => i), 16, (i) => agentFor(licenseKey, product, `storm-${i}`));
    const sent = agents.flatMap((a, i) => [a, a].map((agent) => ({ agent, result: i % 10 === 0 ? 'failed' : 'ok' })));
    const statuses = await pool(sent, sent.length, ({ agent, result }) => reportAsAgent(agent.token, { product, installedVersion: '1.0.0', result }));
    expect(new Set(statuses)).toEqual(new Set([202]));
    const fleet = await (await admin()).call<{ versions: Array<{ version: string; agents: number; ok: number; failed: number }> }>('GET', `/v1/admin/fleet/${product}`);
    expect(fleet.versions).toEqual([{ version: '1.0.0', agents: 300, ok: 270, failed: 30, lastReportAt: expect.any(String) }]);
  }, 180_000);

  it.each(['\u0000', '\r\nforged line', '\u001b[2J', '\u007f', '\u009b31m'])('refuses a report whose detail holds the control character in %j with 400 naming detail', async (control) => {
    const { token } = await licensedAgent(PRODUCT);
    const response = await fetch(`${stackInfo().baseUrl}/v1/reports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ product: PRODUCT, installedVersion: '1.0.0', result: 'failed', detail: `disk full${control}` }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: { code: 'INVALID_REQUEST', message: 'detail: must not contain control characters' } });
  });

  it('refuses a report of a version never released with 400 INVALID_REQUEST naming installedVersion; signet fleet does not show it', async () => {
    const product = 'unreleased-av';
    await publishVersion(product, '1.0.0', files('u1'));
    const { token } = await licensedAgent(product);
    const response = await fetch(`${stackInfo().baseUrl}/v1/reports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ product, installedVersion: '9.9.9', result: 'ok' }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: { code: 'INVALID_REQUEST', message: `installedVersion: is not a released version of ${product}` } });
    expect(await report(token, { product, installedVersion: '1.0.0', result: 'ok' })).toBe(202);

    const fleet = await runSignet(['fleet', '--product', product, '--data-dir', stackInfo().dataDir, '--json']);
    expect(fleet.code).toBe(0);
    expect((JSON.parse(fleet.stdout) as { versions: Array<{ version: string }> }).versions.map((v) => v.version)).toEqual(['1.0.0']);
  });

  it('refuses a malformed report with 400 and an unauthenticated one with 401', async () => {
    const { token } = await licensedAgent(PRODUCT);
    expect(await report(token, { product: PRODUCT, installedVersion: '1.0.0', result: 'maybe' })).toBe(400);
    expect(await report('sgt1.x', { product: PRODUCT, installedVersion: '1.0.0', result: 'ok' })).toBe(401);
  });

  it('halts a rollout by itself when its version fails too often, and moves the snapshot agents watch', async () => {
    const product = 'autohalt-av';
    await publishVersion(product, '1.0.0', files('a1'));
    await publishVersion(product, '2.0.0', files('a2'));
    await promoteTo(product, 'stable', '1.0.0', 100);
    await promoteTo(product, 'stable', '2.0.0', 50);
    const { licenseKey } = await createTestLicense({ products: [product], seats: 30 });
    const agents = await pool(Array.from({ length: 25 }, (_, i) => i), 8, (i) => agentFor(licenseKey, product, `halt-${i}`));
    const snapshotVersion = async () =>
      ((await (await fetch(`${stackInfo().baseUrl}/metadata/timestamp.json`)).json()) as { signed: { meta: Record<string, { version: number }> } }).signed.meta['snapshot.json']?.version ?? 0;
    const before = await snapshotVersion();
    // 20 reports of the new version, 5 failed: 25% >= the default 20% of at least 20 reports.
    await pool(agents.slice(0, 20), 4, (a) => report(a.token, { product, installedVersion: '2.0.0', result: agents.indexOf(a) < 5 ? 'failed' : 'ok' }));
    const fleet = await (await admin()).call<{ channels: Array<{ channel: string; status: string; updatedBy: string }> }>('GET', `/v1/admin/fleet/${product}`);
    expect(fleet.channels.find((c) => c.channel === 'stable')).toMatchObject({ status: 'halted', updatedBy: 'signet:auto-halt' });
    expect(await snapshotVersion()).toBeGreaterThan(before);
  });

  it('halts a rollout once, moving the snapshot once, when 100 failing reports arrive at once', async () => {
    const product = 'haltrush-av';
    await publishVersion(product, '1.0.0', files('r1'));
    await publishVersion(product, '2.0.0', files('r2'));
    await promoteTo(product, 'stable', '1.0.0', 100);
    await promoteTo(product, 'stable', '2.0.0', 50);
    const { licenseKey } = await createTestLicense({ products: [product], seats: 100 });
    const agents = await pool(Array.from({ length: 100 }, (_, i) => i), 16, (i) => agentFor(licenseKey, product, `rush-${i}`));
    const before = await snapshotVersionNow();
    const statuses = await pool(agents, agents.length, (a) => reportAsAgent(a.token, { product, installedVersion: '2.0.0', result: 'failed' }));
    expect(new Set(statuses)).toEqual(new Set([202]));
    const audit = await (await admin()).call<{ entries: Array<{ action: string; subject: string }> }>('GET', `/v1/admin/audit?limit=200`);
    expect(audit.entries.filter((e) => e.action === 'channel.halt' && e.subject === `${product}/stable`)).toHaveLength(1);
    expect(await snapshotVersionNow()).toBe(before + 1);
  }, 180_000);
});

/** The snapshot version the service's timestamp names now. */
async function snapshotVersionNow(): Promise<number> {
  const timestamp = (await (await fetch(`${stackInfo().baseUrl}/metadata/timestamp.json`)).json()) as { signed: { meta: Record<string, { version: number }> } };
  return timestamp.signed.meta['snapshot.json']?.version ?? 0;
}
