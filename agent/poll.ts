/**
 * Step 2 of docs/agent-protocol.md, poll: `timestamp.json`, public and CDN-cached. The
 * same bytes as at the last successful update, with that set still installed: nothing
 * to do, no manifest asked for.
 */
import { createHash } from 'node:crypto';
import { answerError } from './http.ts';
import type { Session } from './session.ts';
import { currentSet } from './switch.ts';

export interface Poll {
  /** SHA-256 of the timestamp.json bytes: kept in the state after a successful update. */
  readonly timestampHash: string;
  /** Whether `current` still points at the installed set. */
  readonly intact: boolean;
  /** The timestamp of the last successful update, and its set intact: nothing new. */
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

export async function poll(session: Session): Promise<Poll> {
  const timestamp = await fetchTimestamp(session);
  const timestampHash = createHash('sha256').update(timestamp).digest('hex');
  const installed = session.state.installed;
  const intact = installed !== undefined && (await currentSet(session.dir)) === installed.path;
  return { timestampHash, intact, unchanged: intact && session.state.lastTimestampSha256 === timestampHash };
}
