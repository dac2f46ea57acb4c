import { describe, expect, it } from 'vitest';
import { MAX_CLOCK_SKEW_MS, relayReports } from '#lib/delivery/relay.ts';
import { AUTO_HALT_ACTOR } from '#lib/delivery/reports.ts';
import { agent, minutesAgo, MIRROR, now, relaySetup, report } from '#test/support/relay.ts';

const license = { products: ['demo-av'] };

describe('relayReports (the use case, on in-memory stores)', () => {
  it('counts relayed reports per version and moves an agent between versions, as direct reports do', async () => {
    const { fleet, deps } = relaySetup();
    const outcome = await relayReports(
      deps,
      MIRROR,
      license,
      [
        report({ agentId: agent(1), installedVersion: '1.1.0', result: 'failed', detail: 'disk full', at: minutesAgo(1) }),
        report({ agentId: agent(1), installedVersion: '1.0.0', at: minutesAgo(5) }),
        report({ agentId: agent(2), installedVersion: '1.0.0', at: minutesAgo(5) }),
      ],
      now,
    );
    expect(outcome).toEqual({ accepted: 3, skipped: 0, halted: [] });
    // Oldest first: agent 1 ends on 1.1.0 whatever the order in the batch.
    expect(await fleet.counters('demo-av', '1.0.0')).toEqual({ version: '1.0.0', agents: 1, ok: 2, failed: 0 });
    expect(await fleet.counters('demo-av', '1.1.0')).toEqual({ version: '1.1.0', agents: 1, ok: 0, failed: 1 });
    expect(await fleet.relayedAgent(MIRROR.mirrorId, 'demo-av', agent(1))).toMatchObject({ installedVersion: '1.1.0', lastResult: 'failed', lastDetail: 'disk full', lastReportAt: minutesAgo(1) });
  });

  it('counts a report relayed twice once', async () => {
    const { fleet, deps } = relaySetup();
    const batch = [report({ agentId: agent(1) }), report({ agentId: agent(2), result: 'failed' })];
    expect(await relayReports(deps, MIRROR, license, batch, now)).toMatchObject({ accepted: 2, skipped: 0 });
    expect(await relayReports(deps, MIRROR, license, batch, now)).toMatchObject({ accepted: 0, skipped: 2 });
    expect(await fleet.counters('demo-av', '1.0.0')).toEqual({ version: '1.0.0', agents: 2, ok: 1, failed: 1 });
  });

  it('skips a product the license does not entitle, a version never released, and a report dated in the future', async () => {
    const { fleet, deps } = relaySetup();
    const outcome = await relayReports(
      deps,
      MIRROR,
      license,
      [
        report({ product: 'other-av' }),
        report({ installedVersion: '9.9.9' }),
        report({ at: new Date(now.getTime() + MAX_CLOCK_SKEW_MS + 1000).toISOString() }),
        report({ agentId: agent(2), at: new Date(now.getTime() + 60_000).toISOString() }), // within the skew
      ],
      now,
    );
    expect(outcome).toEqual({ accepted: 1, skipped: 3, halted: [] });
    expect(await fleet.counters('demo-av', '9.9.9')).toBeUndefined();
    expect(await fleet.counters('other-av', '1.0.0')).toBeUndefined();
  });

  it('halts a rollout whose version fails at the policy\'s rate, once per batch, and moves the snapshot once', async () => {
    const { channels, deps, rolloutChanges } = relaySetup();
    const batch = [0, 1, 2, 3, 4].map((i) => report({ agentId: agent(i), installedVersion: '1.1.0', result: i < 2 ? 'failed' : 'ok' }));
    const outcome = await relayReports(deps, MIRROR, license, batch, now);
    expect(outcome.halted).toEqual([{ product: 'demo-av', channel: 'stable', version: '1.1.0', ok: 3, failed: 2 }]);
    expect(channels.channels.get('demo-av/stable')).toMatchObject({ status: 'halted', updatedBy: AUTO_HALT_ACTOR });
    expect(rolloutChanges()).toBe(1);
  });

  it('leaves a rollout alone when the failures concern another version, or too few reports', async () => {
    const { channels, deps, rolloutChanges } = relaySetup();
    await relayReports(deps, MIRROR, license, [0, 1, 2, 3, 4].map((i) => report({ agentId: agent(i), installedVersion: '1.0.0', result: 'failed' })), now);
    await relayReports(deps, MIRROR, license, [10, 11, 12].map((i) => report({ agentId: agent(i), installedVersion: '1.1.0', result: 'failed' })), now);
    expect(channels.channels.get('demo-av/stable')?.status).toBe('active');
    expect(rolloutChanges()).toBe(0);
  });
});
