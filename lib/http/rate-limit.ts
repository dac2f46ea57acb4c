/**
 * Per-key token buckets, kept in the function instance. A client over its rate gets
 * `RATE_LIMITED` (429) with the seconds until it may try again. The buckets are per
 * instance, so the limit is approximate across a fleet of instances: the exact,
 * global limit per IP is the WAF rate-based rule at the CDN; this one stops a single
 * misbehaving agent from costing DynamoDB reads, without any I/O of its own.
 */
import { RateLimited } from '#lib/errors.ts';

export interface RateLimit {
  /** Tokens added per second. */
  readonly perSecond: number;
  /** Bucket size: how many requests may come at once. */
  readonly burst: number;
}

/** Buckets kept at most; the least recently used go first (a Map iterates in insertion order). */
const MAX_KEYS = 50_000;

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly limit: RateLimit) {}

  /** Takes one token for `key`, or throws 429 with Retry-After. */
  take(key: string, nowMs = Date.now()): void {
    const bucket = this.buckets.get(key) ?? { tokens: this.limit.burst, at: nowMs };
    const tokens = Math.min(this.limit.burst, bucket.tokens + ((nowMs - bucket.at) / 1000) * this.limit.perSecond);
    this.buckets.delete(key);
    if (tokens < 1) {
      this.buckets.set(key, { tokens, at: nowMs });
      const retryAfter = Math.max(1, Math.ceil((1 - tokens) / this.limit.perSecond));
      throw new RateLimited(retryAfter);
    }
    this.buckets.set(key, { tokens: tokens - 1, at: nowMs });
    if (this.buckets.size > MAX_KEYS) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
  }
}

/** From `SIGNET_<NAME>_PER_MINUTE` and `SIGNET_<NAME>_BURST`, with defaults. */
export function rateLimitFromEnv(name: string, defaults: { perMinute: number; burst: number }, env: NodeJS.ProcessEnv = process.env): RateLimit {
  const perMinute = Number(env[`SIGNET_${name}_PER_MINUTE`] ?? defaults.perMinute);
  const burst = Number(env[`SIGNET_${name}_BURST`] ?? defaults.burst);
  if (!(perMinute > 0) || !(burst >= 1)) throw new Error(`SIGNET_${name}_PER_MINUTE and SIGNET_${name}_BURST must be positive`);
  return { perSecond: perMinute / 60, burst };
}
