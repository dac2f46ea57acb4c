import { describe, expect, it } from 'vitest';
import { MAX_CLOCK_SKEW_MS, relayMirrorReports, relayReports, SKIP_REASONS } from '#lib/delivery/relay.ts';
import { AUTO_HALT_ACTOR } from '#lib/delivery/reports.ts';
import type { LicensingStore } from '#lib/licensing/store.ts';
import { FakeLicensingStore } from '#test/support/fakes.ts';
import { testLicense } from '#test/support/licenses.ts';
import { agent, minutesAgo, MIRROR, now, relaySetup, report } from '#test/support/relay.ts';

const license = { products: ['demo-av'], reclaimAfterDays: 30 };

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
    expect(outcome).toEqual({ accepted: 3, skipped: 0, reasons: {}, halted: [] });
    // Oldest first: agent 1 ends on 1.1.0 whatever the order in the batch, and counts there only.
    expect(await fleet.counters('demo-av', '1.0.0')).toEqual({ version: '1.0.0', agents: 1, ok: 1, failed: 0 });
    expect(await fleet.counters('demo-av', '1.1.0')).toEqual({ version: '1.1.0', agents: 1, ok: 0, failed: 1 });
    expect(await fleet.relayedAgent(MIRROR.mirrorId, 'demo-av', agent(1))).toMatchObject({ installedVersion: '1.1.0', lastResult: 'failed', lastDetail: 'disk full', lastReportAt: minutesAgo(1) });
  });

  it('counts a report relayed twice once', async () => {
    const { fleet, deps } = relaySetup();
    const batch = [report({ agentId: agent(1) }), report({ agentId: agent(2), result: 'failed' })];
    expect(await relayReports(deps, MIRROR, license, batch, now)).toMatchObject({ accepted: 2, skipped: 0 });
    expect(await relayReports(deps, MIRROR, license, batch, now)).toMatchObject({ accepted: 0, skipped: 2, reasons: { [SKIP_REASONS.notNewer]: 2 } });
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
    expect(outcome).toEqual({ accepted: 1, skipped: 3, reasons: { [SKIP_REASONS.notEntitled]: 1, [SKIP_REASONS.neverReleased]: 1, [SKIP_REASONS.future]: 1 }, halted: [] });
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

  it('counts the reports of at most `seats` agents of a mirror per product: 60 failed reports of 60 agents at a mirror with 5 seats count 5, and halt nothing', async () => {
    const { fleet, channels, deps, rolloutChanges } = relaySetup({ failureRate: 0.2, minReports: 20 });
    const batch = Array.from({ length: 60 }, (_, i) => report({ agentId: agent(100 + i), installedVersion: '1.1.0', result: 'failed', at: minutesAgo(60 - i) }));
    const outcome = await relayReports(deps, { ...MIRROR, seats: 5 }, license, batch, now);
    expect(outcome).toMatchObject({ accepted: 5, skipped: 55, reasons: { [SKIP_REASONS.seatsFull]: 55 }, halted: [] });
    expect(await fleet.counters('demo-av', '1.1.0')).toMatchObject({ agents: 5, failed: 5 });
    expect(channels.channels.get('demo-av/stable')?.status).toBe('active');
    expect(rolloutChanges()).toBe(0);
    // The agents that hold the slots go on counting; the others stay out, batch after batch.
    const holders = [...fleet.relayed.values()].filter((a) => a.holdsSlot).map((a) => a.agentId);
    expect(holders).toHaveLength(5);
    const later = [...holders, agent(999)].map((agentId) => report({ agentId, installedVersion: '1.1.0', result: 'ok', at: minutesAgo(0) }));
    expect(await relayReports(deps, { ...MIRROR, seats: 5 }, license, later, now)).toMatchObject({ accepted: 5, skipped: 1, reasons: { [SKIP_REASONS.seatsFull]: 1 } });
    // The slots are the mirror's: another mirror's agents have their own.
    expect(await relayReports(deps, { ...MIRROR, mirrorId: 'e'.repeat(32), seats: 5 }, license, [report({ agentId: agent(999) })], now)).toMatchObject({ accepted: 1 });
  });

  it('frees the slot of an agent silent longer than the license\'s reclaimAfterDays for a new one, and only then', async () => {
    const { fleet, deps } = relaySetup();
    const origin = { ...MIRROR, seats: 2 };
    const longAgo = new Date(now.getTime() - 31 * 86_400_000);
    await relayReports(deps, origin, license, [report({ agentId: agent(1), at: new Date(longAgo.getTime() - 60_000).toISOString() })], longAgo);
    await relayReports(deps, origin, license, [report({ agentId: agent(2), at: minutesAgo(30) })], now);
    // Agent 2 was relayed just now: agent 3 waits. Agent 1 was silent 31 days: agent 4 takes its slot.
    const outcome = await relayReports(deps, origin, license, [report({ agentId: agent(3), at: minutesAgo(5) }), report({ agentId: agent(4), at: minutesAgo(4) })], now);
    expect(outcome).toMatchObject({ accepted: 1, skipped: 1, reasons: { [SKIP_REASONS.seatsFull]: 1 } });
    expect((await fleet.relayedAgent(MIRROR.mirrorId, 'demo-av', agent(1)))?.holdsSlot).toBe(false);
    expect(fleet.slots.get(`${MIRROR.mirrorId}/demo-av`)).toBe(2);
    // Agent 1 back: its old report still counts once (kept), a new one waits for a slot.
    expect(await relayReports(deps, origin, license, [report({ agentId: agent(1), at: minutesAgo(1) })], now)).toMatchObject({ accepted: 0, reasons: { [SKIP_REASONS.seatsFull]: 1 } });
  });

  it('attributes reports to their origin mirror, leased under the same license, and bounds them by its seats; another license\'s or an unknown origin: all skipped', async () => {
    const { fleet, deps } = relaySetup();
    const { key: licenseKey, license: record } = testLicense({ products: ['demo-av'] });
    const other = testLicense();
    const store = new FakeLicensingStore();
    store.licenses.set(record.licenseId, record);
    const isolated = 'f'.repeat(32);
    const foreign = 'a'.repeat(32);
    const leased = (mirrorId: string, licenseId: string, seats: number) => ({ mirrorId, licenseId, seats, leaseExpiresAt: now.toISOString(), leasedAt: now.toISOString(), createdAt: now.toISOString(), revision: 1 });
    store.mirrors.set(MIRROR.mirrorId, leased(MIRROR.mirrorId, record.licenseId, 50));
    store.mirrors.set(isolated, leased(isolated, record.licenseId, 2));
    store.mirrors.set(foreign, leased(foreign, other.license.licenseId, 50));
    const batch = [1, 2, 3].map((i) => report({ agentId: agent(i) }));
    const relay = (origin?: string) => relayMirrorReports({ ...deps, mirrors: store as unknown as LicensingStore }, { licenseKey, mirrorId: MIRROR.mirrorId, ...(origin && { origin }), reports: batch }, now);
    await expect(relay(isolated)).resolves.toMatchObject({ accepted: 2, skipped: 1, origin: isolated, reasons: { [SKIP_REASONS.seatsFull]: 1 } });
    expect([...fleet.relayed.values()].map((a) => a.mirrorId)).toEqual([isolated, isolated]);
    await expect(relay(foreign)).resolves.toMatchObject({ accepted: 0, skipped: 3, reasons: { [SKIP_REASONS.origin]: 3 } });
    await expect(relay('0'.repeat(32))).resolves.toMatchObject({ accepted: 0, skipped: 3, reasons: { [SKIP_REASONS.origin]: 3 } });
  });
});
