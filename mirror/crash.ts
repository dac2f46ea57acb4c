/**
 * A test hook: with SIGNET_MIRROR_CRASH_AT=<point>, the process kills itself (SIGKILL, as
 * kill -9 or a power cut would) when it reaches that point, so the crash tests reach each
 * moment of a sync, an import and a switch every time rather than by luck of timing. The
 * points are the names passed below; unset, this costs one comparison.
 */
export type CrashPoint =
  | 'sync:refreshed'
  | 'sync:downloaded'
  | 'import:unpacked'
  | 'import:store-moved'
  | 'switch:prepared'
  | 'switch:committed'
  | 'switch:tuf-aside'
  | 'switch:before-timestamp';

export const CRASH_POINTS: readonly CrashPoint[] = ['sync:refreshed', 'sync:downloaded', 'import:unpacked', 'import:store-moved', 'switch:prepared', 'switch:committed', 'switch:tuf-aside', 'switch:before-timestamp'];

export function crashPoint(point: CrashPoint): void {
  if (process.env.SIGNET_MIRROR_CRASH_AT === point) process.kill(process.pid, 'SIGKILL');
}
