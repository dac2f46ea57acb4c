import { describe, expect, it } from 'vitest';
import { RateLimited } from '#lib/errors.ts';
import { RateLimiter } from '#lib/http/rate-limit.ts';

describe('RateLimiter', () => {
  it('lets a burst through, then refuses with RATE_LIMITED and the seconds to wait', () => {
    const limiter = new RateLimiter({ perSecond: 1, burst: 3 });
    for (let i = 0; i < 3; i++) limiter.take('agent', 0);
    let error: unknown;
    try {
      limiter.take('agent', 0);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RateLimited);
    expect((error as RateLimited).code).toBe('RATE_LIMITED');
    expect((error as RateLimited).retryAfterSeconds).toBe(1);
  });

  it('refills at its rate and keeps keys apart', () => {
    const limiter = new RateLimiter({ perSecond: 0.5, burst: 1 });
    limiter.take('a', 0);
    expect(() => limiter.take('a', 1_000)).toThrow(RateLimited);
    limiter.take('b', 1_000);
    limiter.take('a', 3_100);
  });
});
