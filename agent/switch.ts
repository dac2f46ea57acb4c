/**
 * Step 6 of docs/agent-protocol.md, install atomically: installed sets
 * (`sets/<version>-<random>/`, files hard-linked from the store) and the `current` symlink
 * that names the installed set. A new set is assembled in `sets/.staging-*` and switched
 * in by renaming a new symlink over `current`: one atomic step, so a failed, interrupted
 * or tampered update leaves the previous set as it was.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, link, mkdir, readdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { AgentError } from './errors.ts';
import { storeDir, storePath } from './file-store.ts';
import { syncDir } from './state.ts';

export const CURRENT = 'current';

/** A set-relative path that stays inside the set (no absolute path, no `..`). */
export function safeSetPath(path: string): string {
  const parts = path.split('/');
  if (path === '' || path.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\\'))) {
    throw new AgentError('VERIFICATION_FAILED', `the set manifest names an unsafe path: ${JSON.stringify(path)}`);
  }
  return parts.join(sep);
}

/**
 * Builds the set in a staging dir from the store (hard links, a copy where links are not
 * possible), then renames it to `sets/<version>-<random>`. Returns that path, relative to `dir`.
 */
export async function assembleSet(dir: string, version: string, files: ReadonlyArray<{ path: string; sha256: string }>): Promise<string> {
  const name = `${version}-${randomBytes(4).toString('hex')}`;
  const sets = join(dir, 'sets');
  const staging = join(sets, `.staging-${name}`);
  await mkdir(staging, { recursive: true });
  try {
    for (const file of files) {
      const target = join(staging, safeSetPath(file.path));
      await mkdir(dirname(target), { recursive: true });
      const source = storePath(dir, file.sha256);
      await link(source, target).catch(async (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EXDEV' && error.code !== 'EPERM' && error.code !== 'ENOTSUP') throw error;
        await copyFile(source, target);
      });
    }
    await syncDir(staging);
    await rename(staging, join(sets, name));
    await syncDir(sets);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  return `sets/${name}`;
}

/** Points `current` at `setPath` (relative to `dir`) atomically: a new symlink renamed over the old one. */
export async function switchCurrent(dir: string, setPath: string): Promise<void> {
  const temp = join(dir, `.${CURRENT}-${randomBytes(4).toString('hex')}`);
  await symlink(setPath, temp);
  try {
    await rename(temp, join(dir, CURRENT));
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncDir(dir);
}

/** Where `current` points (relative to `dir`), if anywhere. */
export async function currentSet(dir: string): Promise<string | undefined> {
  try {
    return await readlink(join(dir, CURRENT));
  } catch {
    return undefined;
  }
}

/**
 * After a successful switch: removes the other sets, staging leftovers, and store
 * entries (and partial downloads) the installed set does not use.
 */
export async function collectGarbage(dir: string, keepSet: string, keepHashes: ReadonlySet<string>): Promise<void> {
  const sets = join(dir, 'sets');
  for (const entry of await readdir(sets).catch(() => [] as string[])) {
    if (`sets/${entry}` !== keepSet) await rm(join(sets, entry), { recursive: true, force: true });
  }
  for (const entry of await readdir(storeDir(dir)).catch(() => [] as string[])) {
    if (!keepHashes.has(entry)) await rm(join(storeDir(dir), entry), { force: true });
  }
  for (const entry of await readdir(dir)) {
    if (entry.startsWith(`.${CURRENT}-`)) await rm(join(dir, entry), { force: true });
  }
}

/**
 * After the disk refused a write (a full one, say: NO_SPACE, agent/errors.ts): removes what
 * an update writes before its set is installed and what is of no use unless it goes on:
 * downloads and patched files under way (`store/*.partial`; resuming them is worth less
 * than the space they fill), a set being assembled (`sets/.staging-*`), a `current` link
 * not yet renamed (`.current-*`). Verified store entries stay: the next run uses them.
 * Best effort: a file that cannot be removed is left to the next success's cleanup.
 */
export async function removePartials(dir: string): Promise<void> {
  const remove = async (parent: string, matches: (name: string) => boolean) => {
    for (const name of await readdir(parent).catch(() => [] as string[])) {
      if (matches(name)) await rm(join(parent, name), { recursive: true, force: true }).catch(() => undefined);
    }
  };
  await remove(storeDir(dir), (name) => name.endsWith('.partial'));
  await remove(join(dir, 'sets'), (name) => name.startsWith('.staging-'));
  await remove(dir, (name) => name.startsWith(`.${CURRENT}-`));
}
