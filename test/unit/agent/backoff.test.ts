import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay, parseRetryAfter, pollDelay, sleep } from '../../../agent/backoff.ts';

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

describe('poll interval', () => {
  it('is the server pollSeconds within ±20%', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 86_400 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (s, r) => {
      const d = pollDelay(s, () => r);
      return d >= s * 800 - 1 && d <= s * 1200 + 1;
    }));
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
