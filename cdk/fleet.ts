/**
 * The API stage's throttle, sized from the fleet (docs/delivery.md, "A release to a million
 * agents"). After a release every agent asks for a manifest once within one poll interval,
 * evenly spread, and the agents that install report once in the same window: the peak is
 * `2 x fleetSize / pollSeconds` requests per second, for one interval. The stage admits
 * that times THROTTLE_HEADROOM (the per-second variation, registrations, retries), rounded
 * up to THROTTLE_STEP, with a burst of BURST_FACTOR times the rate.
 */

/** Requests per agent in the interval after a release: one manifest, one report. */
export const REQUESTS_PER_AGENT_AFTER_RELEASE = 2;

/**
 * Over the mean peak: the busiest seconds see about +12% (docs/delivery.md: ~1,250 in a
 * second against a mean of 1,111), and registrations and 429 retries come on top.
 */
export const THROTTLE_HEADROOM = 1.3;

/** The rate is rounded up to this, and never below it. */
export const THROTTLE_STEP = 100;

/** The burst bucket, as a multiple of the rate (as the former fixed default, 200 and 400). */
export const BURST_FACTOR = 2;

/** API Gateway's account-level quota per region, shared by every API of the account (Service Quotas raises it). */
export const ACCOUNT_RATE_QUOTA = 10_000;
export const ACCOUNT_BURST_QUOTA = 5_000;

export interface FleetThrottle {
  /** Mean requests per second on the API in the interval after a release. */
  readonly peak: number;
  readonly rateLimit: number;
  readonly burstLimit: number;
}

export function fleetThrottle(fleetSize: number, pollSeconds: number): FleetThrottle {
  const peak = (REQUESTS_PER_AGENT_AFTER_RELEASE * fleetSize) / pollSeconds;
  const rateLimit = Math.max(THROTTLE_STEP, Math.ceil((peak * THROTTLE_HEADROOM) / THROTTLE_STEP) * THROTTLE_STEP);
  return { peak, rateLimit, burstLimit: BURST_FACTOR * rateLimit };
}
