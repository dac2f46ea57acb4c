/** `signet mirror status`: what a mirror holds and how it is doing, read from its data dir (it may be running or not). */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Agent } from '#lib/licensing/model.ts';
import { storeDir } from '../agent/file-store.ts';
import type { SyncRecord } from './state.ts';
import { paths, readConfig, readLease, readServed, readSync } from './state.ts';
import { viewProblem } from './view.ts';

export interface MirrorStatus {
  readonly mirrorId?: string;
  readonly upstream?: string;
  readonly sync?: SyncRecord;
  readonly snapshotVersion?: number;
  /** Versions held, by product, newest last. */
  readonly versions: Record<string, string[]>;
  readonly storeFiles: number;
  readonly storeBytes: number;
  readonly lease?: { licenseId: string; seats: number; seatsUsed: number; expiresAt: string; expired: boolean; products: readonly string[] };
  readonly agents: { total: number; active: number };
  readonly pendingReports: number;
  /** Why the served view cannot be served (then `sync` never says ok). */
  readonly problem?: string;
}

async function lines(file: string): Promise<number> {
  return (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
}

export async function mirrorStatus(dir: string): Promise<MirrorStatus> {
  const [config, sync, served, lease] = await Promise.all([readConfig(dir), readSync(dir), readServed(dir), readLease(dir)]);
  const agents = JSON.parse(await readFile(paths(dir).agents, 'utf8').catch(() => '[]')) as Agent[];
  let storeFiles = 0;
  let storeBytes = 0;
  for (const name of await readdir(storeDir(dir)).catch(() => [] as string[])) {
    if (name.endsWith('.partial')) continue;
    storeFiles++;
    storeBytes += (await stat(join(storeDir(dir), name))).size;
  }
  const active = agents.filter((a) => a.status === 'active');
  const problem = await viewProblem(dir, served);
  // A sync that said ok does not make a view servable: what is on disk now decides.
  const shown: SyncRecord | undefined = sync && problem ? { ...sync, result: 'failed', detail: `the served view is broken: ${problem}; the next sync repairs it` } : sync;
  return {
    ...(config?.mirrorId && { mirrorId: config.mirrorId }),
    ...(config?.upstream && { upstream: config.upstream }),
    ...(shown && { sync: shown }),
    ...(problem && { problem }),
    ...(served && { snapshotVersion: served.snapshotVersion }),
    versions: Object.fromEntries(Object.entries(served?.versions ?? {}).map(([p, v]) => [p, Object.keys(v)])),
    storeFiles,
    storeBytes,
    ...(lease && {
      lease: {
        licenseId: lease.signed.licenseId,
        seats: lease.signed.seats,
        seatsUsed: active.length,
        expiresAt: lease.signed.expiresAt,
        expired: Date.parse(lease.signed.expiresAt) <= Date.now(),
        products: lease.signed.products,
      },
    }),
    agents: { total: agents.length, active: active.length },
    pendingReports: (await lines(paths(dir).reports)) + (await lines(`${paths(dir).reports}.sending`)),
  };
}
