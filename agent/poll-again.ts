/**
 * Step 9 of docs/agent-protocol.md, poll again: `runDaemon()` updates, then sleeps until
 * the agent's own moment of the next poll interval, until its signal aborts.
 */
import { resolve } from 'node:path';
import { backoffDelay, pollDelay, sleep } from './backoff.ts';
import { AgentError, STOP_CODES } from './errors.ts';
import type { AgentState } from './state.ts';
import { readState } from './state.ts';
import type { UpdateOptions, UpdateResult } from './update.ts';
import { update } from './update.ts';

export interface DaemonOptions extends UpdateOptions {
  readonly signal: AbortSignal;
  /** After each attempt: its result or its error. */
  readonly onCycle?: (outcome: UpdateResult | AgentError) => void;
}

/** Before the server has said (no registration yet). */
const DEFAULT_POLL_SECONDS = 300;

/** Until the next poll: the state's pollSeconds (the server's), at the agent's own moment of the interval. */
function nextPoll(state: AgentState | undefined): number {
  // Before a registration succeeded there is no agent id; the machine id is as stable.
  return pollDelay(state?.pollSeconds ?? DEFAULT_POLL_SECONDS, { agentKey: state?.agentId ?? state?.machineId });
}

/**
 * Updates, then sleeps until the agent's moment in the next poll interval (`pollDelay`),
 * until `signal` aborts. A failed attempt is retried sooner, with full-jitter backoff
 * capped at the poll interval; a stop is re-checked each poll (the operator's `register`
 * clears it).
 */
export async function runDaemon(options: DaemonOptions): Promise<void> {
  const { signal } = options;
  let failures = 0;
  while (!signal.aborted) {
    let delayMs: number;
    const before = await readState(resolve(options.dir));
    try {
      const outcome = await update({ ...options, force: false, http: { ...options.http, signal } });
      failures = 0;
      options.onCycle?.(outcome);
      delayMs = nextPoll(await readState(resolve(options.dir)));
    } catch (error) {
      if (signal.aborted) break;
      const failure = error instanceof AgentError ? error : new AgentError('INTERNAL', error instanceof Error ? error.message : String(error));
      options.onCycle?.(failure);
      const pollMs = (before?.pollSeconds ?? DEFAULT_POLL_SECONDS) * 1000;
      if (failure.code === 'STOPPED' || STOP_CODES.has(failure.code)) delayMs = nextPoll(before);
      else delayMs = Math.max(failure.retryAfterMs ?? 0, 1000 + backoffDelay(failures++, { baseMs: 5_000, capMs: pollMs }));
    }
    await sleep(delayMs, signal).catch(() => undefined);
  }
}
