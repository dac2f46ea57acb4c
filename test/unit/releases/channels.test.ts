import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inWave, versionForAgent, wavePosition } from '#lib/releases/channels.ts';
import type { Channel } from '#lib/releases/store.ts';

// 1,000 simulated agent ids, fixed so the shares below are the same on every run.
const population = Array.from({ length: 1_000 }, (_, i) => {
  const h = createHash('sha256').update(`simulated agent ${i}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
});

function channel(overrides: Partial<Channel> = {}): Channel {
  return { product: 'demo-av', channel: 'stable', version: '2.0.0', percent: 100, previousVersion: '1.0.0', status: 'active', revision: 1, updatedAt: '', updatedBy: 'test', ...overrides };
}

describe('inWave', () => {
  it('puts 10% ± 2% of 1,000 simulated agents in a 10% wave', () => {
    const share = population.filter((id) => inWave(id, '2.0.0', 10)).length / population.length;
    expect(share).toBeGreaterThanOrEqual(0.08);
    expect(share).toBeLessThanOrEqual(0.12);
  });

  it('widening 10% → 50% keeps everyone already in (and adds about 40%)', () => {
    const at10 = population.filter((id) => inWave(id, '2.0.0', 10));
    const at50 = new Set(population.filter((id) => inWave(id, '2.0.0', 50)));
    for (const id of at10) expect(at50.has(id)).toBe(true);
    expect(at50.size / population.length).toBeGreaterThan(0.45);
    expect(at50.size / population.length).toBeLessThan(0.55);
    fc.assert(fc.property(fc.string(), fc.double({ min: 0, max: 100, noNaN: true }), fc.double({ min: 0, max: 100, noNaN: true }), (id, a, b) => !inWave(id, '2.0.0', Math.min(a, b)) || inWave(id, '2.0.0', Math.max(a, b))));
  });

  it('is stable for an agent and version, none at 0%, everyone at 100%', () => {
    for (const id of population.slice(0, 50)) {
      expect(inWave(id, '2.0.0', 37)).toBe(inWave(id, '2.0.0', 37));
      expect(inWave(id, '2.0.0', 0)).toBe(false);
      expect(inWave(id, '2.0.0', 100)).toBe(true);
      expect(wavePosition(id, '2.0.0')).toBeGreaterThanOrEqual(0);
      expect(wavePosition(id, '2.0.0')).toBeLessThan(10_000);
    }
  });

  it('draws a new, independent wave for the next version', () => {
    const first = new Set(population.filter((id) => inWave(id, '2.0.0', 10)));
    const next = population.filter((id) => inWave(id, '3.0.0', 10));
    const overlap = next.filter((id) => first.has(id)).length;
    expect(overlap).toBeLessThan(40); // independent: about 1% of agents, not the same 10%
  });
});

describe('versionForAgent', () => {
  it('offers the rollout version inside the wave and the previous one outside it', () => {
    const c = channel({ percent: 10 });
    for (const id of population.slice(0, 200)) expect(versionForAgent(c, id, '1.0.0')).toBe(inWave(id, '2.0.0', 10) ? '2.0.0' : '1.0.0');
  });

  it('never offers lower than what the agent has installed', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.double({ min: 0, max: 100, noNaN: true }), fc.constantFrom<Channel['status']>('active', 'halted'), (id, percent, status) => {
        expect(versionForAgent(channel({ percent, status }), id, '2.5.0')).toBe('2.5.0');
        expect(versionForAgent(channel({ percent, status }), id, '9.0')).toBe('9.0');
      }),
    );
    expect(versionForAgent(channel({ percent: 100 }), population[0] ?? '', '2.0.0')).toBe('2.0.0');
  });

  it('offers the previous version to everyone once halted', () => {
    const halted = channel({ percent: 100, status: 'halted' });
    for (const id of population) expect(versionForAgent(halted, id, undefined)).toBe('1.0.0');
    // ...and an agent that already took the halted version keeps it (never a downgrade).
    expect(versionForAgent(halted, population[0] ?? '', '2.0.0')).toBe('2.0.0');
  });

  it('leaves an agent outside the first wave of a product with no previous version where it is', () => {
    const first = channel({ percent: 10, previousVersion: undefined });
    const outside = population.find((id) => !inWave(id, '2.0.0', 10)) ?? '';
    expect(versionForAgent(first, outside, undefined)).toBeUndefined();
    expect(versionForAgent(channel({ status: 'halted', previousVersion: undefined }), outside, '0.9')).toBe('0.9');
  });

  it('gives a fresh agent (nothing installed) the rollout version in the wave', () => {
    const inside = population.find((id) => inWave(id, '2.0.0', 10)) ?? '';
    expect(versionForAgent(channel({ percent: 10 }), inside, undefined)).toBe('2.0.0');
  });
});
