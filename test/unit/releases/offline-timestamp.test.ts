import { generateKeyPairSync } from 'node:crypto';
import { Metadata, Targets } from '@tufjs/models';
import { describe, expect, it } from 'vitest';
import type { ObjectStore } from '#lib/aws/objects.ts';
import { Conflict, InvalidRequest } from '#lib/errors.ts';
import type { RepositoryDeps } from '#lib/releases/repository.ts';
import { offlineTimestamp, refreshTimestamp } from '#lib/releases/repository.ts';
import type { ReleaseStore, RepositoryState } from '#lib/releases/store.ts';
import { expiresIn, newRoot, newSnapshot, parseSnapshot, parseTimestamp, signMetadata, SPEC_VERSION, toBytes, verifyRole } from '#lib/tuf/metadata.ts';
import { pemSigner } from '#lib/tuf/signer.ts';

const pem = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const keys = { root: pemSigner(pem()), targets: pemSigner(pem()), snapshot: pemSigner(pem()), timestamp: pemSigner(pem()) };
const DAY = 86_400_000;

/** The repository state item and the bucket, in memory, with the store's commit rule (only over the revision read). */
class MemoryRepository {
  state: RepositoryState | undefined;
  readonly objects = new Map<string, Buffer>();
  readonly audits: unknown[] = [];

  readonly store = {
    repositoryState: async () => this.state,
    commit: async (input: { expected: RepositoryState | undefined; next: RepositoryState; audit?: unknown }) => {
      if (this.state?.revision !== input.expected?.revision) return false;
      this.state = input.next;
      if (input.audit) this.audits.push(input.audit);
      return true;
    },
  } as unknown as ReleaseStore;

  readonly bucket: ObjectStore = {
    get: async (key) => this.objects.get(key),
    exists: async (key) => this.objects.has(key),
    put: async (key, body) => void this.objects.set(key, body),
    list: async (prefix) => new Set([...this.objects.keys()].filter((k) => k.startsWith(prefix))),
  };
}

/** A published repository signed at `signedAt`: root 1, targets 1 (expiring in `targetsDays`), snapshot 1, timestamp 1. */
async function published(signedAt: Date, options: { targetsDays?: number; rootDays?: number } = {}) {
  const repo = new MemoryRepository();
  const root = newRoot({ keys: { root: [keys.root.key], targets: [keys.targets.key], snapshot: [keys.snapshot.key], timestamp: [keys.timestamp.key] }, now: signedAt });
  if (options.rootDays !== undefined) (root.signed as { expires: string }).expires = expiresIn(options.rootDays, signedAt);
  await signMetadata(root, [keys.root]);
  repo.objects.set('metadata/1.root.json', toBytes(root));
  const targets = await signMetadata(new Metadata(new Targets({ version: 1, specVersion: SPEC_VERSION, expires: expiresIn(options.targetsDays ?? 365, signedAt) })), [keys.targets]);
  repo.objects.set('metadata/1.targets.json', toBytes(targets));
  const snapshot = await signMetadata(newSnapshot(1, 1, signedAt), [keys.snapshot]);
  repo.objects.set('metadata/1.snapshot.json', toBytes(snapshot));
  repo.state = { rootVersion: 1, targetsVersion: 1, snapshotVersion: 1, timestampVersion: 1, revision: 4, updatedAt: signedAt.toISOString() };
  return { repo, root: root.signed };
}

function deps(repo: MemoryRepository, now: () => Date): RepositoryDeps {
  return { store: repo.store, objects: repo.bucket, signers: { snapshot: keys.snapshot, timestamp: keys.timestamp }, now, timestampExpiryHours: 24 };
}

describe('offlineTimestamp', () => {
  it('signs a timestamp for the current snapshot valid validDays, commits its version without writing timestamp.json, and the next refresh goes higher', async () => {
    const now = new Date('2026-12-01T12:00:00Z');
    const { repo, root } = await published(now);
    const audit = { actor: 'mirror:x', action: 'mirror.offline-timestamp', subject: 'x' };
    const result = await offlineTimestamp(deps(repo, () => now), 14, audit);
    expect(verifyRole(root, 'timestamp', result.timestamp)).toBe(true);
    expect(result).toMatchObject({ snapshotVersion: 1, timestampVersion: 2, expires: '2026-12-15T12:00:00Z' });
    expect(result.timestamp.signed.snapshotMeta.version).toBe(1);
    expect(repo.objects.has('metadata/timestamp.json')).toBe(false);
    expect(repo.state).toMatchObject({ timestampVersion: 2, snapshotVersion: 1 });
    expect(repo.audits).toEqual([audit]);

    await refreshTimestamp(deps(repo, () => now));
    const online = parseTimestamp(repo.objects.get('metadata/timestamp.json') ?? '');
    expect(online.signed.version).toBe(3);
    expect(online.signed.expires).toBe('2026-12-02T12:00:00Z');
  });

  it('moves the snapshot first when it expires before the timestamp would, so the chain holds for the whole period', async () => {
    const signedAt = new Date('2026-12-01T12:00:00Z');
    const now = new Date(signedAt.getTime() + 20 * DAY + 1500);
    const { repo, root } = await published(signedAt);
    const result = await offlineTimestamp(deps(repo, () => now), 30);
    expect(result.snapshotVersion).toBe(2);
    const snapshot = parseSnapshot(repo.objects.get('metadata/2.snapshot.json') ?? '');
    expect(verifyRole(root, 'snapshot', snapshot)).toBe(true);
    expect(Date.parse(snapshot.signed.expires)).toBeGreaterThanOrEqual(Date.parse(result.expires));
    expect(result.expires).toBe(expiresIn(30, now));
    // Moving the snapshot published it online too, as every snapshot move does.
    expect(parseTimestamp(repo.objects.get('metadata/timestamp.json') ?? '').signed.snapshotMeta.version).toBe(2);
    expect(repo.state?.timestampVersion).toBe(result.timestampVersion);
  });

  it('keeps the snapshot when it outlives the timestamp', async () => {
    const signedAt = new Date('2026-12-01T12:00:00Z');
    const { repo } = await published(signedAt);
    const result = await offlineTimestamp(deps(repo, () => new Date(signedAt.getTime() + 5 * DAY)), 25);
    expect(result.snapshotVersion).toBe(1);
    expect(repo.objects.has('metadata/2.snapshot.json')).toBe(false);
  });

  it('refuses with CONFLICT when the targets or the root expire within the period, and commits nothing', async () => {
    const now = new Date('2026-12-01T12:00:00Z');
    const short = await published(now, { targetsDays: 10 });
    await expect(offlineTimestamp(deps(short.repo, () => now), 11)).rejects.toThrow(Conflict);
    await expect(offlineTimestamp(deps(short.repo, () => now), 11)).rejects.toThrow(/targets version 1 expires at .*publish again/);
    expect(short.repo.state?.timestampVersion).toBe(1);
    await expect(offlineTimestamp(deps(short.repo, () => now), 10)).resolves.toMatchObject({ timestampVersion: 2 });

    const oldRoot = await published(now, { rootDays: 3 });
    await expect(offlineTimestamp(deps(oldRoot.repo, () => now), 4)).rejects.toThrow(/root version 1 expires/);
  });

  it('refuses a validity longer than a snapshot lives, and a repository with nothing published', async () => {
    const now = new Date('2026-12-01T12:00:00Z');
    const { repo } = await published(now);
    await expect(offlineTimestamp(deps(repo, () => now), 31)).rejects.toThrow(InvalidRequest);
    const empty = new MemoryRepository();
    await expect(offlineTimestamp(deps(empty, () => now), 1)).rejects.toThrow(Conflict);
  });
});
