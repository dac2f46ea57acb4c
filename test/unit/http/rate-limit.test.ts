import { describe, expect, it } from 'vitest';
import { ApiError } from '#lib/http/errors.ts';
import { RateLimiter } from '#lib/http/rate-limit.ts';

describe('RateLimiter', () => {
  it('lets a burst through, then answers 429 RATE_LIMITED with the seconds to wait', () => {
    const limiter = new RateLimiter({ perSecond: 1, burst: 3 });
    for (let i = 0; i < 3; i++) limiter.take('agent', 0);
    let error: unknown;
    try {
      limiter.take('agent', 0);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe('RATE_LIMITED');
    expect((error as ApiError).headers).toEqual({ 'retry-after': '1' });
  });

  it('refills at its rate and keeps keys apart', () => {
    const limiter = new RateLimiter({ perSecond: 0.5, burst: 1 });
    limiter.take('a', 0);
    expect(() => limiter.take('a', 1_000)).toThrow(ApiError);
    limiter.take('b', 1_000);
    limiter.take('a', 3_100);
  });
});
