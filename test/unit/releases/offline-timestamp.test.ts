import { describe, expect, it } from 'vitest';
import { Conflict, InvalidRequest } from '#lib/errors.ts';
import { offlineTimestamp, refreshTimestamp } from '#lib/releases/repository.ts';
import { expiresIn, parseSnapshot, parseTimestamp, verifyRole } from '#lib/tuf/metadata.ts';
import { DAY_MS, MemoryRepository, memoryRepositoryDeps, publishedRepository } from '#test/support/memory-repository.ts';

describe('offlineTimestamp', () => {
  it('signs a timestamp for the current snapshot valid validDays, commits its version without writing timestamp.json, and the next refresh goes higher', async () => {
    const now = new Date('2026-12-01T12:00:00Z');
    const { repo, root } = await publishedRepository(now);
    const audit = { actor: 'mirror:x', action: 'mirror.offline-timestamp', subject: 'x' };
    const result = await offlineTimestamp(memoryRepositoryDeps(repo, () => now), 14, { audit });
    expect(verifyRole(root, 'timestamp', result.timestamp)).toBe(true);
    expect(result).toMatchObject({ snapshotVersion: 1, timestampVersion: 2, expires: '2026-12-15T12:00:00Z' });
    expect(result.timestamp.signed.snapshotMeta.version).toBe(1);
    expect(repo.objects.has('metadata/timestamp.json')).toBe(false);
    expect(repo.state).toMatchObject({ timestampVersion: 2, snapshotVersion: 1 });
    expect(repo.audits).toEqual([audit]);

    await refreshTimestamp(memoryRepositoryDeps(repo, () => now));
    const online = parseTimestamp(repo.objects.get('metadata/timestamp.json') ?? '');
    expect(online.signed.version).toBe(3);
    expect(online.signed.expires).toBe('2026-12-02T12:00:00Z');
  });

  it('expires at notAfter (whole seconds) when that is sooner than validDays, and at validDays otherwise', async () => {
    const now = new Date('2026-12-01T12:00:00Z');
    const { repo, root } = await publishedRepository(now);
    const capped = await offlineTimestamp(memoryRepositoryDeps(repo, () => now), 14, { notAfter: new Date('2026-12-04T08:30:15.750Z') });
    expect(capped.expires).toBe('2026-12-04T08:30:15Z');
    expect(capped.timestamp.signed.expires).toBe('2026-12-04T08:30:15Z');
    expect(verifyRole(root, 'timestamp', capped.timestamp)).toBe(true);
    const later = await offlineTimestamp(memoryRepositoryDeps(repo, () => now), 3, { notAfter: new Date('2027-06-01T00:00:00Z') });
    expect(later.expires).toBe('2026-12-04T12:00:00Z');
  });

  it('moves the snapshot first when it expires before the timestamp would, so the chain holds for the whole period', async () => {
    const signedAt = new Date('2026-12-01T12:00:00Z');
    const now = new Date(signedAt.getTime() + 20 * DAY_MS + 1500);
    const { repo, root } = await publishedRepository(signedAt);
    const result = await offlineTimestamp(memoryRepositoryDeps(repo, () => now), 30);
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
    const { repo } = await publishedRepository(signedAt);
    const result = await offlineTimestamp(memoryRepositoryDeps(repo, () => new Date(signedAt.getTime() + 5 * DAY_MS)), 25);
    expect(result.snapshotVersion).toBe(1);
    expect(repo.objects.has('metadata/2.snapshot.json')).toBe(false);
  });

  it('refuses with CONFLICT when the targets or the root expire within the period, and commits nothing', async () => {
    const now = new Date('2026-12-01T12:00:00Z');
    const short = await publishedRepository(now, { targetsDays: 10 });
    await expect(offlineTimestamp(memoryRepositoryDeps(short.repo, () => now), 11)).rejects.toThrow(Conflict);
    await expect(offlineTimestamp(memoryRepositoryDeps(short.repo, () => now), 11)).rejects.toThrow(/targets version 1 expires at .*publish again/);
    expect(short.repo.state?.timestampVersion).toBe(1);
    await expect(offlineTimestamp(memoryRepositoryDeps(short.repo, () => now), 10)).resolves.toMatchObject({ timestampVersion: 2 });

    const oldRoot = await publishedRepository(now, { rootDays: 3 });
    await expect(offlineTimestamp(memoryRepositoryDeps(oldRoot.repo, () => now), 4)).rejects.toThrow(/root version 1 expires/);
  });

  it('refuses a validity longer than a snapshot lives, and a repository with nothing published', async () => {
    const now = new Date('2026-12-01T12:00:00Z');
    const { repo } = await publishedRepository(now);
    await expect(offlineTimestamp(memoryRepositoryDeps(repo, () => now), 31)).rejects.toThrow(InvalidRequest);
    const empty = new MemoryRepository();
    await expect(offlineTimestamp(memoryRepositoryDeps(empty, () => now), 1)).rejects.toThrow(Conflict);
  });
});
