import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { createReportsHandler } from '#functions/reports/handler.ts';
import type { Grant } from '#lib/delivery/grant.ts';
import * as fc from 'fast-check';
import type { LastReport } from '#lib/delivery/fleet.ts';
import { counterDeltas } from '#lib/delivery/fleet.ts';
import { buildManifest } from '#lib/delivery/manifest.ts';
import { AUTO_HALT_ACTOR, recordReport } from '#lib/delivery/reports.ts';
import { ComputerBlacklisted, InvalidRequest, NotFound, ProductNotEntitled, RateLimited } from '#lib/errors.ts';
import { registerAgent } from '#lib/licensing/register.ts';
import { machineHashOf } from '#lib/licensing/secrets.ts';
import { createLogger, logMessages } from '#lib/log.ts';
import type { Channel } from '#lib/releases/store.ts';
import { FakeChannels, FakeFleet, FakeLicensingStore } from '#test/support/fakes.ts';
import { testLicense } from '#test/support/licenses.ts';

const now = new Date('2026-12-01T12:00:00Z');
const grant: Grant = { query: 'Policy=p&Signature=s&Key-Pair-Id=K', expiresAt: '2026-12-01T13:00:00Z' };

function channel(overrides: Partial<Channel> = {}): Channel {
  return { product: 'demo-av', channel: 'stable', version: '1.1.0', percent: 100, previousVersion: '1.0.0', setManifest: 'demo-av/aa.set-1.1.0.json', previousSetManifest: 'demo-av/bb.set-1.0.0.json', status: 'active', revision: 1, updatedAt: now.toISOString(), updatedBy: 'ci', ...overrides };
}

async function agentIn(store: FakeLicensingStore, machineId = 'pc-1') {
  const { key, license } = testLicense({ seats: 10 });
  store.licenses.set(license.licenseId, license);
  return registerAgent(store, { licenseKey: key, machineId, product: 'demo-av', os: 'linux', arch: 'x64' }, () => now);
}

function manifestDeps(store: FakeLicensingStore, admitted: string[] = []) {
  return {
    access: store,
    releases: new FakeChannels(),
    grants: { grant: async () => grant },
    cdnBaseUrl: 'https://cdn.example',
    pollSeconds: 900,
    admit: (agentId: string) => void admitted.push(agentId),
  };
}

describe('buildManifest (the use case, on in-memory stores)', () => {
  it('offers the channel\'s version with its set manifest, the CDN URLs and the product\'s grant, after admitting the agent', async () => {
    const store = new FakeLicensingStore();
    const { token, agentId } = await agentIn(store);
    store.putChannel(channel());
    const admitted: string[] = [];
    const manifest = await buildManifest(manifestDeps(store, admitted), token, { product: 'demo-av' }, now);
    expect(manifest).toEqual({
      product: 'demo-av',
      channel: 'stable',
      version: '1.1.0',
      setManifest: 'demo-av/aa.set-1.1.0.json',
      metadataUrl: 'https://cdn.example/metadata/',
      targetsUrl: 'https://cdn.example/targets/',
      download: grant,
      pollSeconds: 900,
    });
    expect(admitted).toEqual([agentId]);
  });

  it('offers the previous version while the rollout is halted', async () => {
    const store = new FakeLicensingStore();
    const { token } = await agentIn(store);
    store.putChannel(channel({ status: 'halted' }));
    expect(await buildManifest(manifestDeps(store), token, { product: 'demo-av' }, now)).toMatchObject({ version: '1.0.0', setManifest: 'demo-av/bb.set-1.0.0.json' });
  });

  it('refuses by type: another product, no channel, a blacklisted computer, an agent over its rate', async () => {
    const store = new FakeLicensingStore();
    const { token } = await agentIn(store, 'pc-9');
    await expect(buildManifest(manifestDeps(store), token, { product: 'other-av' }, now)).rejects.toBeInstanceOf(ProductNotEntitled);
    await expect(buildManifest(manifestDeps(store), token, { product: 'demo-av' }, now)).rejects.toBeInstanceOf(NotFound);
    store.putChannel(channel());
    await expect(
      buildManifest({ ...manifestDeps(store), admit: () => { throw new RateLimited(3); } }, token, { product: 'demo-av' }, now),
    ).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 3 });
    store.blacklisted.add(machineHashOf('pc-9'));
    await expect(buildManifest(manifestDeps(store), token, { product: 'demo-av' }, now)).rejects.toBeInstanceOf(ComputerBlacklisted);
  });
});

function reportDeps(store: FakeLicensingStore, channels = new FakeChannels(), fleet = new FakeFleet()) {
  return { access: store, fleet, channels, policy: { failureRate: 0.5, minReports: 4 }, admit: () => undefined, rolloutChanged: async () => undefined };
}

/** demo-av/stable rolling out 1.1.0, on in-memory stores; counts the snapshot moves. */
function rollingOut() {
  const store = new FakeLicensingStore();
  store.putRelease({ product: 'demo-av', version: '1.1.0', setManifestPath: 'x' });
  store.putChannel(channel());
  const channels = new FakeChannels();
  channels.channels.set('demo-av/stable', channel());
  let changes = 0;
  const deps = { ...reportDeps(store, channels), rolloutChanged: async () => void changes++ };
  return { store, channels, deps, rolloutChanges: () => changes };
}

describe('recordReport (the use case, on in-memory stores)', () => {
  it('records a report on a released version in the fleet counters', async () => {
    const store = new FakeLicensingStore();
    const { token, agentId } = await agentIn(store);
    store.putRelease({ product: 'demo-av', version: '1.1.0', setManifestPath: 'x' });
    const fleet = new FakeFleet();
    expect(await recordReport(reportDeps(store, new FakeChannels(), fleet), token, { product: 'demo-av', installedVersion: '1.1.0', result: 'ok' }, now)).toEqual({});
    expect(fleet.lastReports.get(agentId)).toEqual({ version: '1.1.0', result: 'ok' });
  });

  it('refuses a version never released, naming installedVersion', async () => {
    const store = new FakeLicensingStore();
    const { token } = await agentIn(store);
    const refusal = recordReport(reportDeps(store), token, { product: 'demo-av', installedVersion: '9.9.9', result: 'ok' }, now);
    await expect(refusal).rejects.toBeInstanceOf(InvalidRequest);
    await expect(refusal).rejects.toMatchObject({ field: 'installedVersion' });
  });

  it('halts the rollout once its version fails at the policy\'s rate over enough reports, and says so', async () => {
    const { store, channels, deps, rolloutChanges } = rollingOut();
    const outcomes = [];
    for (const [i, result] of (['ok', 'failed', 'ok', 'failed'] as const).entries()) {
      const { token } = await agentIn(store, `pc-${i}`);
      outcomes.push(await recordReport(deps, token, { product: 'demo-av', installedVersion: '1.1.0', result }, now));
    }
    expect(outcomes.slice(0, 3)).toEqual([{}, {}, {}]); // fewer than minReports
    expect(outcomes[3]).toEqual({ halted: { product: 'demo-av', channel: 'stable', version: '1.1.0', ok: 2, failed: 2 } });
    expect(channels.channels.get('demo-av/stable')).toMatchObject({ status: 'halted', updatedBy: AUTO_HALT_ACTOR });
    expect(rolloutChanges()).toBe(1); // agents are told through the snapshot they watch
  });
});

describe('the fleet counters', () => {
  it('count an agent once, by its last report: the same report again changes nothing', () => {
    const ok = { version: '1.1.0', result: 'ok' } as const;
    expect(counterDeltas(undefined, ok)).toEqual([{ version: '1.1.0', add: { agents: 1, ok: 1 } }]);
    expect(counterDeltas(ok, ok)).toEqual([]);
    expect(counterDeltas(ok, { version: '1.1.0', result: 'failed' })).toEqual([{ version: '1.1.0', add: { failed: 1, ok: -1 } }]);
    expect(counterDeltas({ version: '1.0.0', result: 'failed' }, ok)).toEqual([
      { version: '1.1.0', add: { agents: 1, ok: 1 } },
      { version: '1.0.0', add: { agents: -1, failed: -1 } },
    ]);
  });

  it('end exactly right for any sequence of reports, repeats included', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ agent: fc.integer({ min: 0, max: 4 }), version: fc.constantFrom('1.0.0', '1.1.0'), result: fc.constantFrom('ok' as const, 'failed' as const) }), { maxLength: 60 }), (reports) => {
        const last = new Map<number, LastReport>();
        const totals = new Map<string, { agents: number; ok: number; failed: number }>();
        for (const { agent, version, result } of reports) {
          for (const delta of counterDeltas(last.get(agent), { version, result })) {
            const t = totals.get(delta.version) ?? { agents: 0, ok: 0, failed: 0 };
            totals.set(delta.version, { agents: t.agents + (delta.add.agents ?? 0), ok: t.ok + (delta.add.ok ?? 0), failed: t.failed + (delta.add.failed ?? 0) });
          }
          last.set(agent, { version, result });
        }
        for (const version of ['1.0.0', '1.1.0']) {
          const on = [...last.values()].filter((r) => r.version === version);
          const expected = { agents: on.length, ok: on.filter((r) => r.result === 'ok').length, failed: on.filter((r) => r.result === 'failed').length };
          expect(totals.get(version) ?? { agents: 0, ok: 0, failed: 0 }).toEqual(expected);
        }
      }),
    );
  });

  it('halt a rollout once, and move the snapshot once, when many failing reports arrive at once', async () => {
    const { store, channels, deps, rolloutChanges } = rollingOut();
    const tokens = await Promise.all(Array.from({ length: 8 }, async (_, i) => (await agentIn(store, `pc-${i}`)).token));
    // Each report's counters already reach the rate before any halt lands: all see it failing.
    const outcomes = await Promise.all(tokens.map((token) => recordReport(deps, token, { product: 'demo-av', installedVersion: '1.1.0', result: 'failed' }, now)));
    expect(outcomes.filter((o) => o.halted)).toHaveLength(1);
    expect(rolloutChanges()).toBe(1);
    expect(channels.channels.get('demo-av/stable')).toMatchObject({ status: 'halted', revision: channel().revision + 1 });
  });
});

describe('the reports handler', () => {
  it('logs the message the auto-halt metric filter counts when a report halts a rollout', async () => {
    const store = new FakeLicensingStore();
    const { token } = await agentIn(store);
    store.putRelease({ product: 'demo-av', version: '1.1.0', setManifestPath: 'x' });
    store.putChannel(channel());
    const channels = new FakeChannels();
    channels.channels.set('demo-av/stable', channel());
    const logger = createLogger('test');
    const warned = vi.spyOn(logger, 'warn').mockImplementation(() => undefined);
    const handler = createReportsHandler({ ...reportDeps(store, channels), policy: { failureRate: 0.5, minReports: 1 }, logger, now: () => now });
    const event = {
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ product: 'demo-av', installedVersion: '1.1.0', result: 'failed' }),
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2;
    const result = await handler(event, { awsRequestId: 'r1' } as Context);
    expect(result).toMatchObject({ statusCode: 202 });
    expect(warned).toHaveBeenCalledWith(logMessages.autoHalt, expect.objectContaining({ product: 'demo-av', version: '1.1.0', failed: 1 }));
  });
});
