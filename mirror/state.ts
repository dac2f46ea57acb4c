/**
 * A mirror's data dir, and what it keeps there between runs (each file written
 * atomically, the secrets 0600):
 *
 *   mirror.json     its id, its upstream, the license key it renews its lease with
 *   lease.json      the signed license lease it answers agents under
 *   agents.json     the agents registered with it
 *   reports.jsonl   agents' reports not yet sent upstream
 *   served.json     what it serves: the targets of the versions it holds, by name
 *   sync.json       the last sync: when, what came of it
 *   tuf/            its trusted TUF metadata (tuf-js keeps root, timestamp, snapshot, targets)
 *   metadata/       the upstream's metadata files as received, served byte for byte
 *   store/<sha256>  target contents, verified, shared by every version that lists them
 *   keys/           the key it signs its own download grants with
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '#lib/files.ts';
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
  agents: join(dir, 'agents.json'),
  reports: join(dir, 'reports.jsonl'),
  served: join(dir, 'served.json'),
  sync: join(dir, 'sync.json'),
  tuf: join(dir, 'tuf'),
  metadata: join(dir, 'metadata'),
  keys: join(dir, 'keys'),
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
