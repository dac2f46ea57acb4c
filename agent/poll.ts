/**
 * Step 2 of docs/agent-protocol.md, poll: `timestamp.json`, public and CDN-cached. What
 * decides "something new" is signed content: the snapshot version the timestamp names,
 * from a timestamp that verifies against the agent's trusted root and has not expired.
 * The hourly re-sign moves only the timestamp's own version, so it costs no manifest
 * request; a release, or a rollout widened, halted or rolled back, moves the snapshot.
 *
 * A timestamp that does not verify here (a root rotated since, an expired or tampered
 * file) is not trusted to say "nothing new": the agent goes on to the full TUF refresh,
 * which either follows the new root or refuses, loudly.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseRoot, parseTimestamp, verifyRole } from '#lib/tuf/metadata.ts';
import { answerError } from './http.ts';
import { TUF_DIR } from './register.ts';
import type { Session } from './session.ts';
import { currentSet } from './switch.ts';

export interface Poll {
  /** The snapshot version a trusted, unexpired timestamp names; undefined when it could not be trusted. */
  readonly snapshotVersion: number | undefined;
  /** Whether `current` still points at the installed set. */
  readonly intact: boolean;
  /** The snapshot of the last successful update, and its set intact: nothing new. */
  readonly unchanged: boolean;
}

async function fetchTimestamp(session: Session): Promise<Buffer> {
  const base = session.state.metadataUrl ?? `${session.state.server}/metadata/`;
  const url = `${base.endsWith('/') ? base : `${base}/`}timestamp.json`;
  return session.http.retrying(url, async () => {
    const response = await session.http.send(url, { headers: { 'cache-control': 'no-cache' } });
    const bytes = Buffer.from(await response.arrayBuffer());
    if (!response.ok) throw answerError(response, bytes.toString('utf8'), url);
    return bytes;
  });
}

/** The snapshot version `bytes` names, if they are a timestamp the trusted root vouches for and still valid at `now`. */
export async function trustedSnapshotVersion(dir: string, bytes: Buffer, now: Date): Promise<number | undefined> {
  try {
    const root = parseRoot(await readFile(join(dir, TUF_DIR, 'root.json'))).signed;
    const timestamp = parseTimestamp(bytes);
    if (!verifyRole(root, 'timestamp', timestamp) || timestamp.signed.isExpired(now)) return undefined;
    return timestamp.signed.snapshotMeta.version;
  } catch {
    return undefined;
  }
}

export async function poll(session: Session): Promise<Poll> {
  const snapshotVersion = await trustedSnapshotVersion(session.dir, await fetchTimestamp(session), new Date());
  const installed = session.state.installed;
  const intact = installed !== undefined && (await currentSet(session.dir)) === installed.path;
  const unchanged = intact && snapshotVersion !== undefined && session.state.lastSnapshotVersion === snapshotVersion;
  return { snapshotVersion, intact, unchanged };
}
