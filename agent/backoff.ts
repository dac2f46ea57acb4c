/** Retry and poll timing: exponential backoff with full jitter, the server's Retry-After, each agent's moment to poll. Pure. */
import { createHash } from 'node:crypto';

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

/**
 * The agent's own moment in every poll interval, in ms from the interval's start
 * (intervals counted from the Unix epoch, so every agent's clock agrees on them, give or
 * take its skew). From a hash of the agent's id: a fleet's moments are spread evenly over
 * the interval, and one agent keeps its moment from run to run.
 */
export function pollPhaseMs(agentKey: string, intervalMs: number): number {
  const hash = createHash('sha256').update(agentKey).digest();
  return Number(hash.readBigUInt64BE(0) % BigInt(intervalMs));
}

/** How far either side of its moment an agent polls, as a share of the interval. */
export const POLL_JITTER = 0.05;

export interface PollTiming {
  /** The agent's id (or, before it has one, its machine id); without it, a random moment each time. */
  readonly agentKey?: string;
  /** Epoch ms. */
  readonly now?: number;
  /** In [0, 1). */
  readonly random?: () => number;
}

/**
 * How long to sleep before the next poll: to the agent's moment (`pollPhaseMs`) nearest one
 * interval from now, ±5% of the interval at random. So an agent polls about once an
 * interval whenever it started and however long its update took, and a fleet spreads its
 * polls evenly over the interval: agents started together (a power cut, a mass deployment)
 * do not poll together, nor call for the manifest in the same second after a release.
 */
export function pollDelay(pollSeconds: number, timing: PollTiming = {}): number {
  const { now = Date.now(), random = Math.random } = timing;
  const intervalMs = Math.max(1, Math.round(pollSeconds * 1000));
  const phase = timing.agentKey === undefined ? Math.floor(random() * intervalMs) : pollPhaseMs(timing.agentKey, intervalMs);
  const inOneInterval = now + intervalMs;
  // From one interval ahead to the moment nearest it: at most half an interval either way.
  let shift = (((phase - inOneInterval) % intervalMs) + intervalMs) % intervalMs;
  if (shift > intervalMs / 2) shift -= intervalMs;
  const jitter = (2 * random() - 1) * POLL_JITTER * intervalMs;
  return Math.max(0, Math.round(intervalMs + shift + jitter));
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
