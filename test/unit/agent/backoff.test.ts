import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { POLL_JITTER, backoffDelay, parseRetryAfter, pollDelay, pollPhaseMs, sleep } from '../../../agent/backoff.ts';

describe('full-jitter backoff', () => {
  const policy = { baseMs: 500, capMs: 30_000 };

  it('waits between 0 and min(cap, base * 2^attempt)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (attempt, r) => {
        const delay = backoffDelay(attempt, policy, () => r);
        const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** attempt);
        return delay >= 0 && delay < ceiling && Number.isInteger(delay);
      }),
    );
  });

  it('doubles the ceiling per attempt up to the cap', () => {
    const top = () => 0.999999;
    expect(backoffDelay(0, policy, top)).toBe(499);
    expect(backoffDelay(1, policy, top)).toBe(999);
    expect(backoffDelay(3, policy, top)).toBe(3999);
    expect(backoffDelay(10, policy, top)).toBe(29_999);
    expect(backoffDelay(1000, policy, top)).toBe(29_999);
  });

  it('spreads the waits (jitter): not all agents retry at once', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(5, policy)));
    expect(delays.size).toBeGreaterThan(40);
  });
});

describe('Retry-After', () => {
  const now = Date.parse('2026-11-21T12:00:00Z');

  it('reads delay-seconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
  });

  it('reads an HTTP date; one in the past is 0', () => {
    expect(parseRetryAfter('Sat, 21 Nov 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Sat, 21 Nov 2026 11:00:00 GMT', now)).toBe(0);
  });

  it('ignores absent and unreadable values', () => {
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter('1.5', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });
});

/** A seeded generator in [0, 1) (mulberry32), so the distribution tests see the same numbers every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

describe('poll interval', () => {
  const now = Date.parse('2026-11-21T12:00:07.123Z');
  const interval = 900;
  const intervalMs = interval * 1000;

  it('waits between half an interval and one and a half (give or take the jitter), with or without an agent id', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 86_400 }), fc.option(fc.string()), fc.integer({ min: 0, max: 2 ** 42 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (s, agentKey, at, r) => {
        const d = pollDelay(s, { ...(agentKey !== null && { agentKey }), now: at, random: () => r });
        return d >= s * 1000 * (0.5 - POLL_JITTER) - 1 && d <= s * 1000 * (1.5 + POLL_JITTER) + 1;
      }),
    );
  });

  it("polls at the agent's own moment of the interval, the same for the same agent id", () => {
    const noJitter = () => 0.5;
    for (const agentKey of ['agent-1', 'agent-2', '0b9e3c55-7d1f-4d6e-9d0a-3b1f5c2e8a71']) {
      const phase = pollPhaseMs(agentKey, intervalMs);
      expect(pollPhaseMs(agentKey, intervalMs)).toBe(phase);
      for (const at of [now, now + 1, now + 123_456, now + 5 * intervalMs + 17]) {
        expect((at + pollDelay(interval, { agentKey, now: at, random: noJitter })) % intervalMs).toBe(phase);
      }
    }
    expect(pollPhaseMs('agent-1', intervalMs)).not.toBe(pollPhaseMs('agent-2', intervalMs));
  });

  it("keeps an agent's polls about one interval apart, however long each update takes", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.integer({ min: 0, max: 2 ** 42 }), fc.array(fc.double({ min: 0, max: 0.3, noNaN: true }), { minLength: 2, maxLength: 30 }), fc.integer(), (agentKey, start, updateShares, seed) => {
        const random = seeded(seed);
        // Each poll starts an update that takes up to 30% of the interval; the delay is computed when it ends.
        let poll = start;
        const polls: number[] = [];
        for (const share of updateShares) {
          const done = poll + share * intervalMs;
          poll = done + pollDelay(interval, { agentKey, now: done, random });
          polls.push(poll);
        }
        return polls.slice(1).every((at, i) => Math.abs(at - (polls[i] ?? 0) - intervalMs) <= 2 * POLL_JITTER * intervalMs + 1);
      }),
    );
  });

  it('spreads the first polls of 10,000 agents started in the same second over the whole interval, no second holding more than 3 times the mean', () => {
    const random = seeded(12);
    const perSecond = new Map<number, number>();
    let first = Infinity;
    let last = -Infinity;
    for (let i = 0; i < 10_000; i++) {
      const at = now + pollDelay(interval, { agentKey: `agent-${i}`, now, random });
      const second = Math.floor(at / 1000);
      perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
      first = Math.min(first, at);
      last = Math.max(last, at);
    }
    const mean = 10_000 / interval;
    expect(last - first).toBeGreaterThan(0.95 * intervalMs);
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(3 * mean);
  });

  it('sleep ends at once when aborted', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const sleeping = sleep(60_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(sleeping).rejects.toThrow('stop');
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
