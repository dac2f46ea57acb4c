import { describe, expect, it } from 'vitest';
import { CapacityMeter } from '../../../bench/capacity.ts';
import { arrivalRates, keyLoads, tableLoad } from '../../../bench/scale-model.ts';

/** A meter filled by hand: `usage` as the middleware would have recorded it. */
function meterWith(requests: Record<string, number>, usages: Array<{ pattern: string; key: string; readUnits?: number; writeUnits?: number; touches: number; actors: number }>): CapacityMeter {
  const meter = new CapacityMeter('t', undefined as never);
  for (const [pattern, n] of Object.entries(requests)) meter.requests.set(pattern, n);
  for (const u of usages) {
    meter.usage.set(`${u.pattern}|table|${u.key}`, { pattern: u.pattern, index: 'table', key: u.key, readUnits: u.readUnits ?? 0, writeUnits: u.writeUnits ?? 0, touches: u.touches, actors: new Set(Array.from({ length: u.actors }, (_, i) => `a${i}`)) });
  }
  return meter;
}

describe('the scale model', () => {
  const fleet = { agents: 1_000_000, pollSeconds: 1_000 };

  it('arrives every agent once per poll interval, the busiest second 10% over, one license of 30% registering', () => {
    expect(arrivalRates(fleet)).toEqual({ registration: expect.closeTo(330), manifest: expect.closeTo(1100), report: expect.closeTo(1100) });
  });

  it('gives a shared key the pattern\'s whole rate times its units per request, and an agent\'s own key its own requests only', () => {
    const meter = meterWith({ report: 100 }, [
      // Every report wrote 4 units on the shared counter item.
      { pattern: 'report', key: 'FLEET#p', writeUnits: 400, touches: 100, actors: 100 },
      // 30 of 100 agents' reports read the big license's item, 1 unit each.
      { pattern: 'report', key: 'LICENSE#big', readUnits: 30, touches: 30, actors: 30 },
      // One agent's own item: 2 units a report.
      { pattern: 'report', key: 'AGENT#1', writeUnits: 2, touches: 1, actors: 1 },
    ]);
    const loads = keyLoads(meter, fleet);
    expect(loads.map((l) => [l.key, l.readUnits, l.writeUnits])).toEqual([
      ['FLEET#p', 0, expect.closeTo(4400)],
      ['LICENSE#big', expect.closeTo(330), 0],
      ['AGENT#1', 0, expect.closeTo(0.002)],
    ]);
    expect(loads[0]?.share).toBeCloseTo(4.4);
    // The table takes every request's units, at the rate: (400 + 2) / 100 writes, 30 / 100 reads.
    expect(tableLoad(meter, fleet)).toEqual({ readUnits: expect.closeTo(330), writeUnits: expect.closeTo(4422) });
  });
});
