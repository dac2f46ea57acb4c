/** Retry timing: exponential backoff with full jitter, and the server's Retry-After. Pure. */

export interface BackoffPolicy {
  /** Attempts in one call, the first included. */
  readonly attempts: number;
  /** The first backoff ceiling, in ms; doubles per attempt. */
  readonly baseMs: number;
  /** The largest backoff ceiling, in ms. */
  readonly capMs: number;
  /** The longest Retry-After the agent waits inside one call; a longer one ends the call (retried at the next poll). */
  readonly maxRetryAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { attempts: 6, baseMs: 500, capMs: 30_000, maxRetryAfterMs: 120_000 };

/**
 * "Full jitter": a uniformly random wait between 0 and min(cap, base * 2^attempt).
 * `attempt` counts from 0 (the wait after the first failure). `random` is in [0, 1).
 */
export function backoffDelay(attempt: number, policy: Pick<BackoffPolicy, 'baseMs' | 'capMs'>, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/**
 * A `Retry-After` header in ms: delay-seconds (`120`) or an HTTP date; `undefined` when
 * absent or unreadable. A date in the past is 0.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/[a-z]/i.test(text)) return undefined;
  const when = Date.parse(text);
  if (Number.isNaN(when)) return undefined;
  return Math.max(0, when - now);
}

/** The poll interval with ±20% jitter, so a fleet started together does not poll together. */
export function pollDelay(pollSeconds: number, random: () => number = Math.random): number {
  return Math.round(pollSeconds * 1000 * (0.8 + 0.4 * random()));
}

/** Resolves after `ms`, or at once (rejecting) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
