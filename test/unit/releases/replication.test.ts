import { writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { ObjectStore } from '#lib/aws/objects.ts';
import { replicaViewPrefix, replicatedPrefixes, timestampKey } from '#lib/definitions/bucket.ts';
import type { ReplicaBucket } from '#lib/releases/replication.ts';
import {
  encodeReplicaView,
  parseReplicaView,
  promoteReplicaView,
  promotionCandidates,
  replicaViewKey,
  replicaViewVersion,
} from '#lib/releases/replication.ts';
import { refreshTimestamp } from '#lib/releases/repository.ts';
import type { Logger } from '#lib/log.ts';
import { logMessages } from '#lib/log.ts';
import { createReplicaPromoterHandler } from '#functions/replica-promoter/handler.ts';
import { parseTimestamp } from '#lib/tuf/metadata.ts';
import { DAY_MS, memoryRepositoryDeps, publishedRepository } from '#test/support/memory-repository.ts';
import { commitTestRelease, replicate, replicatedKeys } from '#test/support/replication.ts';

const T0 = new Date('2026-11-01T00:00:00Z');

/** A bucket in memory with ETags and S3's conditional write, as the promoter sees a replica bucket. */
class MemoryReplica implements ReplicaBucket {
  readonly objects = new Map<string, { body: Buffer; etag: string }>();
  private writes = 0;
  /** Runs once, just before the next conditional write is checked: another writer's turn. */
  beforeNextPut: (() => void) | undefined;

  readonly store: ObjectStore = {
    get: async (key) => this.objects.get(key)?.body,
    download: async (key, file) => {
      const object = this.objects.get(key);
      if (object) await writeFile(file, object.body);
      return object !== undefined;
    },
    exists: async (key) => this.objects.has(key),
    put: async (key, body) => this.set(key, body),
    list: async (prefix) => this.keys(prefix),
  };

  set(key: string, body: Buffer): void {
    this.objects.set(key, { body, etag: `"${++this.writes}"` });
  }

  keys(prefix: string): Set<string> {
    return new Set([...this.objects.keys()].filter((key) => key.startsWith(prefix)));
  }

  async read(key: string) {
    return this.objects.get(key);
  }

  async list(prefix: string) {
    return this.keys(prefix);
  }

  async putIfUnchanged(key: string, body: Buffer, etag: string | undefined) {
    const interfere = this.beforeNextPut;
    this.beforeNextPut = undefined;
    interfere?.();
    if (this.objects.get(key)?.etag !== etag) return false;
    this.set(key, body);
    return true;
  }

  servedVersion(): number | undefined {
    const served = this.objects.get(timestampKey);
    return served && parseTimestamp(served.body).signed.version;
  }
}

/** A primary repository that writes replica views, its first release published, and an empty replica. */
async function primaryAndReplica(now = () => new Date(T0.getTime() + DAY_MS)) {
  const { repo } = await publishedRepository(T0);
  const deps = { ...memoryRepositoryDeps(repo, now), replicaViews: true };
  await commitTestRelease(deps, 'demo-av', '1.0.0', { 'main.sig': 'signatures one\n', 'engine.cfg': 'heuristics=on\n' });
  const replica = new MemoryReplica();
  return { repo, deps, replica, now };
}

describe('replica views written by the primary', () => {
  it('writes every timestamp.json it publishes once more as a view of that version, with the root version, when replicaViews is on', async () => {
    const { repo, deps } = await primaryAndReplica();
    await refreshTimestamp(deps);
    const served = repo.objects.get(timestampKey);
    const version = served && parseTimestamp(served).signed.version;
    const viewBytes = version && repo.objects.get(replicaViewKey(version));
    expect(viewBytes).toBeInstanceOf(Buffer);
    const view = parseReplicaView(viewBytes as Buffer);
    expect(view).toMatchObject({ timestampVersion: version, rootVersion: 1, writtenAt: new Date(T0.getTime() + DAY_MS).toISOString() });
    expect(view.timestamp.equals(served as Buffer)).toBe(true);
    // One view per published timestamp: the release's and the refresh's.
    expect([...repo.objects.keys()].filter((key) => key.startsWith(replicaViewPrefix)).map(replicaViewVersion)).toEqual([2, 3]);
  });

  it('writes no view without replica regions (the default)', async () => {
    const { repo } = await publishedRepository(T0);
    await refreshTimestamp(memoryRepositoryDeps(repo, () => new Date(T0.getTime() + DAY_MS)));
    expect([...repo.objects.keys()].some((key) => key.startsWith(replicaViewPrefix))).toBe(false);
    expect(repo.objects.has(timestampKey)).toBe(true);
  });

  it('replicates everything but timestamp.json: targets, versioned metadata, views', async () => {
    const { repo } = await primaryAndReplica();
    const keys = [...repo.objects.keys()];
    const replicated = keys.filter((key) => replicatedPrefixes.some((prefix) => key.startsWith(prefix)));
    expect(replicated).not.toContain(timestampKey);
    expect(keys.filter((key) => !replicated.includes(key) && !key.startsWith('staging/'))).toEqual([timestampKey]);
  });

  it('refuses a view whose timestamp is not the version it claims, and one of another format', async () => {
    const { repo } = await primaryAndReplica();
    const view = parseReplicaView(repo.objects.get(replicaViewKey(2)) as Buffer);
    expect(() => parseReplicaView(encodeReplicaView({ ...view, timestampVersion: 7 }))).toThrow(/version 7, its timestamp is version 2/);
    expect(() => parseReplicaView(Buffer.from(JSON.stringify({ format: 'other' })))).toThrow(/not a replica view/);
  });
});

describe('promotionCandidates', () => {
  it('keeps only versions newer than the served one, newest first, each once', () => {
    expect(promotionCandidates([3, 7, 5, 7, 2], 4)).toEqual([7, 5]);
    expect(promotionCandidates([1, 2], undefined)).toEqual([2, 1]);
    expect(promotionCandidates([2, 3], 3)).toEqual([]);
  });
});

describe('promoteReplicaView', () => {
  it('serves the new view once everything it names has arrived, and the previous complete view until then', async () => {
    const { repo, deps, replica, now } = await primaryAndReplica();
    await replicate(repo.bucket, replica.store, await replicatedKeys(repo.bucket));
    expect((await promoteReplicaView({ bucket: replica, now })).promoted).toBe(2);

    const { keys: added } = await commitTestRelease(deps, 'demo-av', '1.1.0', { 'main.sig': 'signatures two\n', 'engine.cfg': 'heuristics=on\n' });
    const lagging = added[0] ?? '';
    await replicate(repo.bucket, replica.store, (await replicatedKeys(repo.bucket)).filter((key) => key !== lagging));
    const later = () => new Date(now().getTime() + 120_000);
    const waiting = await promoteReplicaView({ bucket: replica, now: later });
    expect(waiting).toMatchObject({ servedVersion: 2, waiting: { timestampVersion: 3, missing: [lagging] }, waitingSeconds: 120 });
    expect(waiting.promoted).toBeUndefined();
    expect(replica.servedVersion()).toBe(2);

    await replicate(repo.bucket, replica.store, [lagging]);
    expect(await promoteReplicaView({ bucket: replica, now: later })).toEqual({ servedVersion: 3, promoted: 3, waitingSeconds: 0 });
    expect(replica.objects.get(timestampKey)?.body.equals(repo.objects.get(timestampKey) as Buffer)).toBe(true);
  });

  it('waits for the snapshot, the targets metadata and the roots a view names', async () => {
    const { repo, replica, now } = await primaryAndReplica();
    const all = await replicatedKeys(repo.bucket);
    for (const withheld of ['metadata/2.snapshot.json', 'metadata/2.targets.json', 'metadata/1.root.json']) {
      const partial = new MemoryReplica();
      await replicate(repo.bucket, partial.store, all.filter((key) => key !== withheld));
      const result = await promoteReplicaView({ bucket: partial, now });
      expect(result.waiting?.missing, withheld).toEqual([withheld]);
      expect(partial.objects.has(timestampKey), withheld).toBe(false);
    }
    await replicate(repo.bucket, replica.store, all);
    expect((await promoteReplicaView({ bucket: replica, now })).promoted).toBe(2);
  });

  it('promotes the newest complete view when a newer one still waits', async () => {
    const { repo, deps, replica, now } = await primaryAndReplica();
    await refreshTimestamp(deps); // view 3, same snapshot as view 2
    const before = await replicatedKeys(repo.bucket);
    const { keys: added } = await commitTestRelease(deps, 'demo-av', '1.1.0', { 'main.sig': 'signatures two\n' }); // view 4
    await replicate(repo.bucket, replica.store, (await replicatedKeys(repo.bucket)).filter((key) => !added.includes(key)));
    expect(before).toContain(replicaViewKey(3));
    const result = await promoteReplicaView({ bucket: replica, now });
    expect(result).toMatchObject({ servedVersion: 3, promoted: 3, waiting: { timestampVersion: 4 } });
  });

  it('never replaces a served timestamp with an older or equal view', async () => {
    const { repo, deps, replica, now } = await primaryAndReplica();
    await refreshTimestamp(deps);
    await refreshTimestamp(deps); // views 2, 3, 4
    await replicate(repo.bucket, replica.store, await replicatedKeys(repo.bucket));
    replica.set(timestampKey, parseReplicaView(repo.objects.get(replicaViewKey(4)) as Buffer).timestamp);
    replica.objects.delete(replicaViewKey(4));
    const result = await promoteReplicaView({ bucket: replica, now });
    expect(result).toEqual({ servedVersion: 4, waitingSeconds: 0 });
    expect(replica.servedVersion()).toBe(4);
  });

  it('starts over when the served timestamp changes between its read and the write, and never writes an older one over it', async () => {
    const { repo, deps, replica, now } = await primaryAndReplica();
    await refreshTimestamp(deps); // views 2 and 3
    await replicate(repo.bucket, replica.store, (await replicatedKeys(repo.bucket)).filter((key) => key !== replicaViewKey(3)));
    // Another writer (a second run, or a timestamp signed in this region) serves version 3 just before this run writes 2.
    replica.beforeNextPut = () => replica.set(timestampKey, parseReplicaView(repo.objects.get(replicaViewKey(3)) as Buffer).timestamp);
    const result = await promoteReplicaView({ bucket: replica, now });
    expect(result).toEqual({ servedVersion: 3, waitingSeconds: 0 });
    expect(replica.servedVersion()).toBe(3);
  });

  it('skips a view it cannot read and says so, promoting an older complete one', async () => {
    const { repo, deps, replica, now } = await primaryAndReplica();
    await refreshTimestamp(deps);
    await replicate(repo.bucket, replica.store, await replicatedKeys(repo.bucket));
    replica.set(replicaViewKey(3), Buffer.from('{"format":"signet-replica-view/1"}'));
    expect(await promoteReplicaView({ bucket: replica, now })).toEqual({ servedVersion: 2, promoted: 2, waitingSeconds: 0, unreadable: [3] });
  });
});

describe('the promoter handler', () => {
  it('logs, on every run, the fixed message and the waitingSeconds field the replica-view-waiting metric filter reads', async () => {
    const { repo, deps, replica, now } = await primaryAndReplica();
    const lines: Array<[string, Record<string, unknown>]> = [];
    const logger = { info: (message: string, fields: Record<string, unknown>) => void lines.push([message, fields]) } as unknown as Logger;
    const handler = createReplicaPromoterHandler({ bucket: replica, now, logger });
    await handler();
    await replicate(repo.bucket, replica.store, await replicatedKeys(repo.bucket));
    await refreshTimestamp(deps);
    await replicate(repo.bucket, replica.store, [replicaViewKey(3)]);
    await handler();
    expect(lines.map(([message]) => message)).toEqual([logMessages.replicaViewChecked, logMessages.replicaViewChecked]);
    expect(lines[0]?.[1]).toMatchObject({ servedTimestampVersion: null, promotedTimestampVersion: null, waitingSeconds: 0 });
    expect(lines[1]?.[1]).toMatchObject({ servedTimestampVersion: 3, promotedTimestampVersion: 3, waitingTimestampVersion: null, waitingSeconds: 0, missing: [] });
  });
});
