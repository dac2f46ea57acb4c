import { describe, expect, it } from 'vitest';
import { ago, AUTO_HALT_ACTOR, channelState, chartBars, expiryText, failureRate, haltSummary, promoteSummary, share } from '#console/web/format.js';
import { AUTO_HALT_ACTOR as SERVICE_AUTO_HALT_ACTOR } from '#lib/delivery/reports.ts';

const channel = { product: 'demo-av', channel: 'stable', version: '1.0.0', percent: 100, status: 'active' as const, updatedBy: 'arn:aws:iam::1:user/ops' };

describe('what the console page computes', () => {
  it('scales the chart to the largest count, zero and empty fleets included', () => {
    expect(chartBars([{ version: '1.1.0', agents: 25 }, { version: '1.0.0', agents: 100 }, { version: '0.9.0', agents: 0 }], 400)).toEqual([
      { version: '1.1.0', agents: 25, width: 100 },
      { version: '1.0.0', agents: 100, width: 400 },
      { version: '0.9.0', agents: 0, width: 0 },
    ]);
    expect(chartBars([{ version: '1.0.0', agents: 0 }], 400)).toEqual([{ version: '1.0.0', agents: 0, width: 0 }]);
    expect(chartBars([], 400)).toEqual([]);
  });

  it('gives shares and failure rates, and flags a rate of 10% or more', () => {
    expect(share(1, 3)).toBe('33.3%');
    expect(share(0, 0)).toBe('–');
    expect(failureRate({ ok: 9, failed: 1 })).toEqual({ reports: 10, text: '10.0%', high: true });
    expect(failureRate({ ok: 91, failed: 9 }).high).toBe(false);
    expect(failureRate({ ok: 0, failed: 0 })).toEqual({ reports: 0, text: '–', high: false });
  });

  it('names an auto-halt as such, with the actor the service writes', () => {
    expect(AUTO_HALT_ACTOR).toBe(SERVICE_AUTO_HALT_ACTOR);
    expect(channelState({ ...channel, status: 'halted', updatedBy: SERVICE_AUTO_HALT_ACTOR })).toBe('halted automatically: its failure rate');
    expect(channelState({ ...channel, status: 'halted' })).toBe('halted by arn:aws:iam::1:user/ops');
    expect(channelState({ ...channel, percent: 30 })).toBe('rolling out to 30%');
    expect(channelState(channel)).toBe('complete');
  });

  it('says before a promote which version the agents outside the wave keep', () => {
    // From a complete 1.0.0, a wave of 1.1.0 leaves the rest on 1.0.0.
    expect(promoteSummary(channel, '1.1.0', 25)).toBe('Promote demo-av 1.1.0 on channel stable to 25% of agents: those in the wave get 1.1.0 at their next poll; the other 75% stay on 1.0.0.');
    // Widening a wave keeps the fallback; from a halt, it says the halt ends.
    const rolling = { ...channel, version: '1.1.0', percent: 25, previousVersion: '1.0.0', status: 'halted' as const };
    expect(promoteSummary(rolling, '1.1.0', 50)).toContain('the other 50% stay on 1.0.0. This lifts the halt.');
    // An incomplete 1.1.0 replaced by 1.2.0: the fallback stays 1.0.0, not 1.1.0.
    expect(promoteSummary({ ...rolling, status: 'active' }, '1.2.0', 10)).toContain('the other 90% stay on 1.0.0.');
    expect(promoteSummary(channel, '1.1.0', 100)).toBe('Promote demo-av 1.1.0 on channel stable to every agent (100%): each gets 1.1.0 at its next poll, and the rollout is complete.');
    expect(promoteSummary({ ...channel, percent: 0, previousVersion: undefined }, '1.0.0', 10)).toContain('the other 90% get nothing.');
  });

  it('says before a halt what agents get', () => {
    expect(haltSummary({ ...channel, version: '1.1.0', previousVersion: '1.0.0', percent: 25 })).toBe(
      'Halt channel stable of demo-av: no more agents get 1.1.0; agents that do not have it yet stay on 1.0.0. Agents that installed 1.1.0 keep it. Promote again to resume.',
    );
    expect(haltSummary(channel)).toContain('agents that do not have it yet get nothing');
  });

  it('says how long ago, and whether a license has expired', () => {
    const now = Date.parse('2026-12-01T12:00:00Z');
    expect(ago('2026-12-01T11:59:30Z', now)).toBe('30 s ago');
    expect(ago('2026-12-01T11:00:00Z', now)).toBe('1 h ago');
    expect(ago('2026-11-28T12:00:00Z', now)).toBe('3 d ago');
    expect(ago(undefined, now)).toBe('never');
    expect(expiryText('2026-11-30T23:59:59Z', now)).toBe('expired 2026-11-30');
    expect(expiryText('2027-12-31T23:59:59Z', now)).toBe('2027-12-31');
  });
});
