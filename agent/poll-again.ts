/**
 * Step 9 of docs/agent-protocol.md, poll again: `runDaemon()` updates, then sleeps the
 * server's pollSeconds with jitter, until its signal aborts.
 */
import { resolve } from 'node:path';
import { backoffDelay, pollDelay, sleep } from './backoff.ts';
import { AgentError, STOP_CODES } from './errors.ts';
import { readState } from './state.ts';
import type { UpdateOptions, UpdateResult } from './update.ts';
import { update } from './update.ts';

export interface DaemonOptions extends UpdateOptions {
  readonly signal: AbortSignal;
  /** After each attempt: its result or its error. */
  readonly onCycle?: (outcome: UpdateResult | AgentError) => void;
}

/**
 * Updates, then sleeps the server's pollSeconds (±20% jitter), until `signal` aborts. A
 * failed attempt is retried sooner, with full-jitter backoff capped at the poll interval;
 * a stop is re-checked each poll (the operator's `register` clears it).
 */
export async function runDaemon(options: DaemonOptions): Promise<void> {
  const { signal } = options;
  let failures = 0;
  while (!signal.aborted) {
    let delayMs: number;
    const pollMs = ((await readState(resolve(options.dir)))?.pollSeconds ?? 300) * 1000;
    try {
      const outcome = await update({ ...options, force: false, http: { ...options.http, signal } });
      failures = 0;
      options.onCycle?.(outcome);
      delayMs = pollDelay(((await readState(resolve(options.dir)))?.pollSeconds ?? 300));
    } catch (error) {
      if (signal.aborted) break;
      const failure = error instanceof AgentError ? error : new AgentError('INTERNAL', error instanceof Error ? error.message : String(error));
      options.onCycle?.(failure);
      if (failure.code === 'STOPPED' || STOP_CODES.has(failure.code)) delayMs = pollDelay(pollMs / 1000);
      else delayMs = Math.max(failure.retryAfterMs ?? 0, 1000 + backoffDelay(failures++, { baseMs: 5_000, capMs: pollMs }));
    }
    await sleep(delayMs, signal).catch(() => undefined);
  }
}
