/**
 * A mirror's data dir, and what it keeps there between runs (each file written
 * atomically, the secrets 0600):
 *
 *   mirror.json     its id, its upstream, the license key it renews its lease with
 *   lease.json      the signed license lease it answers agents under
 *   withdrawn.json  the upstream's refusal of the license (suspended, revoked, ...), until it leases again
 *   agents.json     the agents registered with it
 *   reports.jsonl   agents' reports not yet sent upstream
 *   served.json     what it serves: the targets of the versions it holds, by name
 *   sync.json       the last sync: when, what came of it
 *   tuf/            its trusted TUF metadata (tuf-js keeps root, timestamp, snapshot, targets)
 *   metadata/       the upstream's metadata files as received, served byte for byte
 *   store/<sha256>  target contents, verified, shared by every version that lists them
 *   keys/           the key it signs its own download grants with
 *   sync.lock       held (with the holder's pid) while a process syncs or imports
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '#lib/files.ts';
import { MirrorError } from './errors.ts';
import type { SignedLease } from '#lib/mirror/lease.ts';

export interface MirrorConfig {
  readonly mirrorId: string;
  /** The service or the mirror it syncs from; absent: it serves what was imported. */
  readonly upstream?: string;
  /** The license it serves under (the key only where it renews its lease upstream). */
  readonly licenseKey?: string;
  readonly licenseId?: string;
  /** Seats it asks the service for. */
  readonly seats: number;
  /** Versions held per product besides the channels' (`serve --keep`; an export's catch-up sync holds as many). */
  readonly keep?: number;
  readonly proxyConf?: string;
  readonly createdAt: string;
}

export interface ServedTarget {
  readonly sha256: string;
  readonly length: number;
}

/** What the mirror serves: targets by their consistent-snapshot name, and the versions it holds per product. */
export interface Served {
  readonly targets: Readonly<Record<string, ServedTarget>>;
  /** Set manifest target paths of the versions held, by product and version. */
  readonly versions: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly snapshotVersion: number;
  readonly at: string;
}

export interface SyncRecord {
  readonly at: string;
  readonly result: 'ok' | 'failed' | 'up-to-date';
  readonly detail?: string;
  readonly snapshotVersion?: number;
  readonly downloadedBytes?: number;
  readonly lastSuccessAt?: string;
}

export const paths = (dir: string) => ({
  config: join(dir, 'mirror.json'),
  lease: join(dir, 'lease.json'),
  withdrawn: join(dir, 'withdrawn.json'),
  agents: join(dir, 'agents.json'),
  reports: join(dir, 'reports.jsonl'),
  served: join(dir, 'served.json'),
  sync: join(dir, 'sync.json'),
  tuf: join(dir, 'tuf'),
  metadata: join(dir, 'metadata'),
  keys: join(dir, 'keys'),
  lock: join(dir, 'sync.lock'),
});

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export const writeJson = (file: string, value: unknown, mode = 0o600) => writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`, mode);

export const readConfig = (dir: string) => readJson<MirrorConfig>(paths(dir).config);
export const readLease = (dir: string) => readJson<SignedLease>(paths(dir).lease);
/** The lease held, as issued; undefined when there is none or it cannot be read (the next lease or import replaces it). */
export async function heldLease(dir: string): Promise<SignedLease['signed'] | undefined> {
  try {
    const lease = await readLease(dir);
    return typeof lease?.signed?.issuedAt === 'string' ? lease.signed : undefined;
  } catch {
    return undefined;
  }
}
export const readServed = (dir: string) => readJson<Served>(paths(dir).served);
export const readSync = (dir: string) => readJson<SyncRecord>(paths(dir).sync);

/** The data dir's config, made on its first start (a new mirror id) and updated by later flags. */
export async function openConfig(dir: string, flags: Partial<Omit<MirrorConfig, 'mirrorId' | 'createdAt'>>): Promise<MirrorConfig> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const sub of ['tuf', 'metadata', 'keys', 'store']) await mkdir(join(dir, sub), { recursive: true, mode: 0o700 });
  const existing = await readConfig(dir);
  const defined = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
  const config: MirrorConfig = { mirrorId: randomBytes(16).toString('hex'), seats: 0, createdAt: new Date().toISOString(), ...existing, ...defined };
  await writeJson(paths(dir).config, config);
  return config;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `work` holding the data dir's lock, so a serving mirror's sync, an export's catch-up
 * sync and an import never write the same dir at once. A lock left by a process that died
 * is taken over; a live holder is waited for, up to `waitMs`.
 */
export async function withDirLock<T>(dir: string, work: () => Promise<T>, waitMs = 10 * 60_000): Promise<T> {
  const file = paths(dir).lock;
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const handle = await open(file, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
      // No pid in it for long: its maker died between making it and writing the pid.
      const orphan = Number.isNaN(holder) && Date.now() - ((await stat(file).catch(() => undefined))?.mtimeMs ?? 0) > 10_000;
      if (orphan || (Number.isInteger(holder) && holder !== process.pid && !alive(holder))) {
        await rm(file, { force: true });
        continue;
      }
      if (Date.now() >= deadline) throw new MirrorError(`${dir} is busy: process ${holder} is syncing or importing into it`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  try {
    return await work();
  } finally {
    await rm(file, { force: true });
  }
}
