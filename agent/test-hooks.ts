/**
 * TEST HOOK, not a feature: `SIGNET_TEST_KILL_AT=<moment>` makes the agent kill itself
 * with SIGKILL (no cleanup, no exit handlers: a crash or a power cut, as far as the
 * install directory can tell) at that moment of an install, so a test can check that
 * the next run recovers from a crash exactly there (test/integration/agent-crash.test.ts).
 * Unset, as everywhere outside a test, it does nothing.
 */

/** The moments of an install around the switch of `current` (docs/agent-protocol.md, step 6). */
export type CrashMoment = 'before-switch' | 'after-switch' | 'after-state' | 'after-cleanup';

export function crashPoint(moment: CrashMoment): void {
  if (process.env.SIGNET_TEST_KILL_AT === moment) process.kill(process.pid, 'SIGKILL');
}
