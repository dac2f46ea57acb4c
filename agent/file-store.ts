/**
 * The content-addressed store of verified files (docs/agent-protocol.md, step 5):
 * `store/<sha256>` in the install directory, with `store/<sha256>.partial` for a download
 * under way. A file takes its store name only once its bytes are verified and synced, so
 * the store is trusted by name and size; a `.partial` is verified again before it is used.
 */
import { chmod, open, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentError, withPath } from './errors.ts';

export function storeDir(dir: string): string {
  return join(dir, 'store');
}

export function storePath(dir: string, sha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new AgentError('VERIFICATION_FAILED', `not a sha256: ${sha256}`);
  return join(storeDir(dir), sha256);
}

/** The size of `file`, or `undefined` when there is no such file. */
export async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Whether the store holds this content already (named by its verified hash, of the right size). */
export async function inStore(dir: string, sha256: string, length: number): Promise<boolean> {
  return (await sizeOf(storePath(dir, sha256))) === length;
}

// fsyncs one after another: each holds one of libuv's 4 pool threads while the disk
// works, and the downloads under way need those threads for their writes.
let diskQueue: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(task: () => Promise<T>): Promise<T> {
  const run = diskQueue.then(task, task);
  diskQueue = run.catch(() => undefined);
  return run;
}

/**
 * Gives a verified `.partial` its store name: fsync, read-only, rename, queued behind the
 * other moves (see above). Until the returned promise settles the file is still a `.partial`.
 */
export function moveIntoStore(partial: string, dest: string): Promise<void> {
  const stored = oneAtATime(async () => {
    const handle = await open(partial, 'r');
    try {
      await handle.sync();
    } catch (error) {
      throw withPath(error, partial); // a delayed write's ENOSPC or EIO surfaces here, naming no path
    } finally {
      await handle.close();
    }
    await chmod(partial, 0o444);
    await rename(partial, dest);
  });
  stored.catch(() => undefined); // the caller awaits it; this only keeps an early failure from going unhandled
  return stored;
}
