/**
 * Files written so that a reader, or a crash, sees the old content or the new, never a
 * half: the agent's state and store, the mirror's data, the local stack's keys.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Writes `content` to `file` atomically with `mode`: temp file, fsync, rename, fsync of the directory. */
export async function writeFileAtomic(file: string, content: string | Buffer, mode = 0o600): Promise<void> {
  const dir = join(file, '..');
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(content);
    await handle.chmod(mode);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  // Some file systems cannot fsync a directory; the rename is still atomic.
  await syncDir(dir);
}

/** fsyncs a directory (so a rename in it is durable), where the file system can. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch {
    // Not every file system can fsync a directory.
  } finally {
    await handle.close();
  }
}

