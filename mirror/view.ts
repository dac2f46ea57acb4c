/**
 * The served view and its switch. What agents here verify is four things that must move
 * together: the trusted TUF metadata (`tuf/`, what the next refresh starts from), the index
 * of served targets (`served.json`), the lease (`lease.json`) and `metadata/timestamp.json`
 * (what agents start from). A sync or an import prepares each new part beside the old one
 * (`tuf.next/`, `served.json.next`, ...), then writes `switch.json`: that write is the one
 * step that commits the switch. The renames that follow are redone after a crash (on start,
 * and before every sync and import): a process killed at any moment leaves either the old
 * view or the new one, never a mix, and never a data dir without `tuf/`.
 *
 * The versioned metadata a view names (`<n>.snapshot.json`, `<n>.targets.json`,
 * `<n>.root.json`) is written before the switch, from the trusted copies the refresh
 * verified (tuf-js keeps the bytes it received): these names are immutable, so an extra one
 * is harmless, and a view whose files went missing is written out again by the next sync.
 */
import { copyFile, mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '#lib/files.ts';
import type { SignedLease } from '#lib/mirror/lease.ts';
import { parseRoot, parseSnapshot, parseTargets, parseTimestamp } from '#lib/tuf/metadata.ts';
import { crashPoint } from './crash.ts';
import type { Served } from './state.ts';
import { paths, writeJson } from './state.ts';

export interface NextView {
  /** A directory holding the new trusted metadata: it becomes `tuf/`. */
  readonly tuf?: string;
  readonly served?: Served;
  readonly lease?: SignedLease;
  /** The `timestamp.json` agents are to start from. */
  readonly timestamp?: Buffer;
}

type Part = 'tuf' | 'served' | 'lease' | 'timestamp';

const viewPaths = (dir: string) => ({
  journal: join(dir, 'switch.json'),
  tufNext: join(dir, 'tuf.next'),
  tufOld: join(dir, 'tuf.old'),
  file: { served: paths(dir).served, lease: paths(dir).lease, timestamp: join(paths(dir).metadata, 'timestamp.json') },
});

const exists = (file: string) => stat(file).then(() => true, () => false);

/** Rename that tolerates a source already moved (a redone switch). */
async function moveIfThere(from: string, to: string): Promise<void> {
  await rename(from, to).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

/**
 * Switches the served view to `next` (the parts it gives; the rest stay). `beforeTimestamp`
 * runs once everything but timestamp.json is in place: a serving process takes the new
 * index there, so no agent reads a timestamp naming targets the process does not serve yet.
 */
export async function switchView(dir: string, next: NextView, beforeTimestamp?: () => void): Promise<void> {
  const v = viewPaths(dir);
  const parts: Part[] = [];
  if (next.tuf) {
    await rm(v.tufNext, { recursive: true, force: true });
    await rename(next.tuf, v.tufNext);
    parts.push('tuf');
  }
  if (next.served) {
    await writeJson(`${v.file.served}.next`, next.served);
    parts.push('served');
  }
  if (next.lease) {
    await writeJson(`${v.file.lease}.next`, next.lease);
    parts.push('lease');
  }
  if (next.timestamp) {
    await writeFileAtomic(`${v.file.timestamp}.next`, next.timestamp, 0o644);
    parts.push('timestamp');
  }
  crashPoint('switch:prepared');
  // The commit point: from here on, a crash is finished by recoverView.
  await writeJson(v.journal, { parts });
  crashPoint('switch:committed');
  await applySwitch(dir, parts, beforeTimestamp);
}

/** The renames of a committed switch; each is a no-op when already done, so it can be redone. */
async function applySwitch(dir: string, parts: readonly Part[], beforeTimestamp?: () => void): Promise<void> {
  const v = viewPaths(dir);
  if (parts.includes('tuf') && (await exists(v.tufNext))) {
    // A directory cannot be renamed over a full one: the old one moves aside first, and
    // tuf/ is missing only between these two renames, which recovery finishes.
    await rm(v.tufOld, { recursive: true, force: true });
    await moveIfThere(paths(dir).tuf, v.tufOld);
    crashPoint('switch:tuf-aside');
    await rename(v.tufNext, paths(dir).tuf);
  }
  await rm(v.tufOld, { recursive: true, force: true });
  for (const part of ['served', 'lease'] as const) if (parts.includes(part)) await moveIfThere(`${v.file[part]}.next`, v.file[part]);
  beforeTimestamp?.();
  crashPoint('switch:before-timestamp');
  if (parts.includes('timestamp')) await moveIfThere(`${v.file.timestamp}.next`, v.file.timestamp);
  await rm(v.journal, { force: true });
}

/**
 * After a crash: a committed switch is finished, an uncommitted one is undone (its
 * prepared parts removed), and what a killed sync or import left (its staging directory,
 * partial files) is removed. Run under the data dir's lock.
 */
export async function recoverView(dir: string): Promise<void> {
  const v = viewPaths(dir);
  const journal = await readFile(v.journal, 'utf8').catch(() => undefined);
  const parts = journal === undefined ? undefined : parseParts(journal);
  if (parts) {
    await applySwitch(dir, parts);
  } else {
    await rm(v.journal, { force: true });
    await rm(v.tufNext, { recursive: true, force: true });
    for (const file of Object.values(v.file)) await rm(`${file}.next`, { force: true });
    // Only a switch moves tuf/ aside, and it is committed before it does.
    if (!(await exists(paths(dir).tuf)) && (await exists(v.tufOld))) await rename(v.tufOld, paths(dir).tuf);
    await rm(v.tufOld, { recursive: true, force: true });
  }
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (/^import-[0-9a-f]+$/.test(name) || name === SYNC_STAGING || TEMP_FILE.test(name)) await rm(join(dir, name), { recursive: true, force: true });
  }
  for (const name of await readdir(paths(dir).metadata).catch(() => [] as string[])) if (TEMP_FILE.test(name)) await rm(join(paths(dir).metadata, name), { force: true });
  await rebuildTrusted(dir);
}

function parseParts(journal: string): Part[] | undefined {
  try {
    const parts = (JSON.parse(journal) as { parts?: unknown }).parts;
    return Array.isArray(parts) ? parts.filter((p): p is Part => ['tuf', 'served', 'lease', 'timestamp'].includes(p as string)) : undefined;
  } catch {
    // A journal cut short was never committed (it is written atomically): nothing to redo.
    return undefined;
  }
}

/** writeFileAtomic's temporary files (lib/files.ts), left by a process killed while writing. */
const TEMP_FILE = /\.[0-9a-f]{12}\.tmp$/;

/** Where a sync prepares its trusted metadata (`<dir>/sync-next/tuf`). */
export const SYNC_STAGING = 'sync-next';

/**
 * A data dir whose `tuf/` was lost (an earlier version's import, killed between removing
 * the old trusted metadata and renaming the new): the trusted state is rebuilt from the
 * served view, which had verified, rather than from `--root` alone, so the rollback
 * protection it gave (no older snapshot or targets) still holds.
 */
async function rebuildTrusted(dir: string): Promise<void> {
  const tuf = paths(dir).tuf;
  if (await exists(join(tuf, 'root.json'))) return;
  const metadata = paths(dir).metadata;
  const roots = (await readdir(metadata).catch(() => [] as string[])).map((n) => /^(\d+)\.root\.json$/.exec(n)?.[1]).filter((n): n is string => n !== undefined).map(Number);
  if (roots.length === 0) return;
  await mkdir(tuf, { recursive: true, mode: 0o700 });
  const staging = `${tuf}.rebuild`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { mode: 0o700 });
  await copyFile(join(metadata, `${Math.max(...roots)}.root.json`), join(staging, 'root.json'));
  const timestamp = await readFile(join(metadata, 'timestamp.json')).catch(() => undefined);
  const snapshotVersion = timestamp && safely(() => parseTimestamp(timestamp).signed.snapshotMeta.version);
  const snapshot = snapshotVersion !== undefined ? await readFile(join(metadata, `${snapshotVersion}.snapshot.json`)).catch(() => undefined) : undefined;
  const targetsVersion = snapshot && safely(() => parseSnapshot(snapshot).signed.meta['targets.json']?.version);
  if (timestamp && snapshot && targetsVersion !== undefined) {
    await copyFile(join(metadata, 'timestamp.json'), join(staging, 'timestamp.json'));
    await writeFileAtomic(join(staging, 'snapshot.json'), snapshot, 0o644);
    await copyFile(join(metadata, `${targetsVersion}.targets.json`), join(staging, 'targets.json')).catch(() => undefined);
  }
  await rm(tuf, { recursive: true, force: true });
  await rename(staging, tuf);
}

function safely<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/**
 * Writes the versioned metadata a trusted set names, from the trusted copies in `tufDir`:
 * `<n>.snapshot.json`, `<n>.targets.json` and `<n>.root.json`. A file already there with
 * the same length is left alone (versioned names are immutable).
 */
export async function writeVersionedMetadata(dir: string, tufDir: string): Promise<void> {
  const metadata = paths(dir).metadata;
  const put = async (name: string, bytes: Buffer) => {
    if ((await stat(join(metadata, name)).catch(() => undefined))?.size === bytes.length) return;
    await writeFileAtomic(join(metadata, name), bytes, 0o644);
  };
  const root = await readFile(join(tufDir, 'root.json'));
  await put(`${parseRoot(root).signed.version}.root.json`, root);
  const snapshot = await readFile(join(tufDir, 'snapshot.json'));
  await put(`${parseSnapshot(snapshot).signed.version}.snapshot.json`, snapshot);
  const targets = await readFile(join(tufDir, 'targets.json'));
  await put(`${parseTargets(targets).signed.version}.targets.json`, targets);
}

/**
 * Why the served view cannot be served, or undefined when it can: timestamp.json names a
 * snapshot that is here, which names targets metadata that is here, and the index of
 * served targets is of that snapshot. `signet mirror status` says it rather than `ok`.
 */
export async function viewProblem(dir: string, served: Served | undefined): Promise<string | undefined> {
  const metadata = paths(dir).metadata;
  const timestamp = await readFile(join(metadata, 'timestamp.json')).catch(() => undefined);
  if (!timestamp) return served ? 'metadata/timestamp.json is missing' : undefined;
  const snapshotVersion = safely(() => parseTimestamp(timestamp).signed.snapshotMeta.version);
  if (snapshotVersion === undefined) return 'metadata/timestamp.json cannot be read';
  const snapshot = await readFile(join(metadata, `${snapshotVersion}.snapshot.json`)).catch(() => undefined);
  if (!snapshot) return `timestamp.json names snapshot ${snapshotVersion}, which is not in metadata/`;
  const targetsVersion = safely(() => parseSnapshot(snapshot).signed.meta['targets.json']?.version);
  if (targetsVersion === undefined || !(await exists(join(metadata, `${targetsVersion}.targets.json`)))) return `snapshot ${snapshotVersion} names targets metadata that is not in metadata/`;
  if (served && served.snapshotVersion !== snapshotVersion) return `the served targets are of snapshot ${served.snapshotVersion}, timestamp.json names ${snapshotVersion}`;
  return undefined;
}
