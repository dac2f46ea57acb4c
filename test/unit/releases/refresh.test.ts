/**
 * The scheduled refresh (refreshRepository, and the timestampRefresh handler around it)
 * over the in-memory repository, at any time a fake clock says: it renews the snapshot
 * near its expiry and only then, once however many refreshes race, never at the cost of
 * a rollout change racing it, and still refreshes the timestamp when the renewal fails.
 */
import { describe, expect, it, vi } from 'vitest';
import { createTimestampRefreshHandler } from '#functions/timestamp-refresh/handler.ts';
import { createLogger, logMessages } from '#lib/log.ts';
import { moveSnapshot, refreshRepository } from '#lib/releases/repository.ts';
import { EXPIRY_DAYS, expiresIn, parseSnapshot, parseTimestamp, verifyRole } from '#lib/tuf/metadata.ts';
import type { Signer } from '#lib/tuf/signer.ts';
import type { MemoryRepository } from '#test/support/memory-repository.ts';
import { DAY_MS, memoryRepositoryDeps, publishedRepository, repositoryKeys } from '#test/support/memory-repository.ts';

const signedAt = new Date('2027-01-01T00:00:00Z');
const at = (days: number) => new Date(signedAt.getTime() + days * DAY_MS);
const onlineTimestamp = (repo: MemoryRepository) => parseTimestamp(repo.objects.get('metadata/timestamp.json') ?? '');
const snapshotOf = (repo: MemoryRepository, version: number) => parseSnapshot(repo.objects.get(`metadata/${version}.snapshot.json`) ?? '');

describe('refreshRepository', () => {
  it('far from the snapshot\'s expiry: a new timestamp for the same snapshot, nothing else (agents\' polls stay free)', async () => {
    const { repo } = await publishedRepository(signedAt);
    const result = await refreshRepository(memoryRepositoryDeps(repo, () => at(19)));
    expect(result).toEqual({ timestampVersion: 2, snapshotVersion: 1, expiring: [] });
    expect(repo.state).toMatchObject({ snapshotVersion: 1, timestampVersion: 2 });
    expect(repo.objects.has('metadata/2.snapshot.json')).toBe(false);
    expect(onlineTimestamp(repo).signed.snapshotMeta.version).toBe(1);
  });

  it('near it: a new snapshot over the same targets, signed with the snapshot key for another 30 days, and a timestamp naming it', async () => {
    const { repo, root } = await publishedRepository(signedAt);
    const now = at(21);
    const result = await refreshRepository(memoryRepositoryDeps(repo, () => now));
    expect(result).toMatchObject({ snapshotVersion: 2, snapshotRenewed: 2, expiring: [] });
    const snapshot = snapshotOf(repo, 2);
    expect(verifyRole(root, 'snapshot', snapshot)).toBe(true);
    expect(snapshot.signed.expires).toBe(expiresIn(EXPIRY_DAYS.snapshot, now));
    expect(snapshot.signed.meta['targets.json']?.version).toBe(1);
    const timestamp = onlineTimestamp(repo);
    expect(verifyRole(root, 'timestamp', timestamp)).toBe(true);
    expect(timestamp.signed.snapshotMeta.version).toBe(2);
    expect(timestamp.signed.version).toBe(repo.state?.timestampVersion);
    expect(repo.state).toMatchObject({ snapshotVersion: 2, targetsVersion: 1 });
    expect(repo.state?.staged).toBeUndefined();
    // The next refresh, an hour later, has nothing to renew.
    expect(await refreshRepository(memoryRepositoryDeps(repo, () => at(21 + 1 / 24)))).not.toHaveProperty('snapshotRenewed');
    expect(repo.state?.snapshotVersion).toBe(2);
  });

  it('is idempotent under a race: refreshes started together move the snapshot once', async () => {
    const { repo } = await publishedRepository(signedAt);
    const results = await Promise.all([1, 2, 3].map(() => refreshRepository(memoryRepositoryDeps(repo, () => at(25)))));
    expect(repo.state?.snapshotVersion).toBe(2);
    expect(results.filter((r) => r?.snapshotRenewed !== undefined)).toHaveLength(1);
    expect(results.map((r) => r?.snapshotVersion)).toEqual([2, 2, 2]);
    expect(onlineTimestamp(repo).signed.snapshotMeta.version).toBe(2);
  });

  it('never loses a rollout change that moves the snapshot at the same time: that move is the one agents see, or a later one', async () => {
    for (const order of ['rollout first', 'refresh first'] as const) {
      const { repo } = await publishedRepository(signedAt);
      const deps = memoryRepositoryDeps(repo, () => at(25));
      const rollout = () => moveSnapshot(deps);
      const refresh = () => refreshRepository(deps);
      const [moved] = order === 'rollout first' ? await Promise.all([rollout(), refresh()]) : (await Promise.all([refresh(), rollout()])).reverse();
      const movedTo = (moved as { snapshotVersion: number } | undefined)?.snapshotVersion ?? 0;
      expect(movedTo, order).toBeGreaterThan(1);
      expect(repo.state?.snapshotVersion, order).toBeGreaterThanOrEqual(movedTo);
      expect(repo.state?.snapshotVersion, order).toBeLessThanOrEqual(3); // at most the rollout's move and one renewal
      expect(onlineTimestamp(repo).signed.snapshotMeta.version, order).toBe(repo.state?.snapshotVersion);
      expect(Date.parse(snapshotOf(repo, repo.state?.snapshotVersion ?? 0).signed.expires), order).toBe(Date.parse(expiresIn(EXPIRY_DAYS.snapshot, at(25))));
    }
  });

  it('when the renewal fails, still refreshes the timestamp for the current snapshot and returns the failure', async () => {
    const { repo } = await publishedRepository(signedAt);
    const broken: Signer = { key: repositoryKeys.snapshot.key, sign: async () => Promise.reject(new Error('KMS: access denied')) };
    const result = await refreshRepository(memoryRepositoryDeps(repo, () => at(22), { snapshot: broken }));
    expect(result).toMatchObject({ timestampVersion: 2, snapshotVersion: 1, renewalFailure: new Error('KMS: access denied') });
    expect(result).not.toHaveProperty('snapshotRenewed');
    expect(repo.state?.snapshotVersion).toBe(1);
    expect(onlineTimestamp(repo).signed.expires).toBe(expiresIn(1, at(22)));
  });

  it('tries one renewal per run: with a timestamp as long-lived as a snapshot (720 hours), it renews once and signs, rather than renewing until the loop gives up', async () => {
    const { repo } = await publishedRepository(signedAt);
    let clock = at(1);
    const deps = { ...memoryRepositoryDeps(repo, () => clock), timestampExpiryHours: 24 * EXPIRY_DAYS.snapshot };
    // Every call of the clock a second later: the timestamp would then outlive the snapshot just signed, by a second.
    const ticking = { ...deps, now: () => (clock = new Date(clock.getTime() + 1000)) };
    const result = await refreshRepository(ticking);
    expect(result).toMatchObject({ snapshotVersion: 2, snapshotRenewed: 2 });
    expect(result).not.toHaveProperty('renewalFailure');
    expect(repo.state?.snapshotVersion).toBe(2);
    expect(onlineTimestamp(repo).signed.snapshotMeta.version).toBe(2);
  });

  it('reports targets and root metadata expiring within 30 days, with the days left', async () => {
    const { repo } = await publishedRepository(signedAt, { targetsDays: 40, rootDays: 70 });
    expect((await refreshRepository(memoryRepositoryDeps(repo, () => at(5))))?.expiring).toEqual([]);
    const result = await refreshRepository(memoryRepositoryDeps(repo, () => at(35)));
    expect(result?.expiring).toEqual([{ role: 'targets', version: 1, expires: expiresIn(40, signedAt), daysLeft: 5 }]);
    expect((await refreshRepository(memoryRepositoryDeps(repo, () => at(45))))?.expiring.map((m) => [m.role, m.daysLeft])).toEqual([
      ['root', 25],
      ['targets', -5],
    ]);
  });

  it('does nothing on a repository with nothing published', async () => {
    const { repo } = await publishedRepository(signedAt);
    repo.state = { ...(repo.state as NonNullable<typeof repo.state>), snapshotVersion: 0 };
    expect(await refreshRepository(memoryRepositoryDeps(repo, () => at(1)))).toBeUndefined();
  });
});

describe('the timestampRefresh handler', () => {
  function handlerOver(repo: MemoryRepository, now: Date, signers = {}) {
    const logger = createLogger('test');
    const info = vi.spyOn(logger, 'info').mockImplementation(() => undefined);
    const warn = vi.spyOn(logger, 'warn').mockImplementation(() => undefined);
    return { handler: createTimestampRefreshHandler({ ...memoryRepositoryDeps(repo, () => now, signers), logger }), info, warn };
  }

  it('logs a renewal, and a warning per role expiring soon with the message the monitoring stack counts', async () => {
    const { repo } = await publishedRepository(signedAt, { targetsDays: 45 });
    const { handler, info, warn } = handlerOver(repo, at(21));
    expect(await handler(undefined)).toEqual({ timestampVersion: repo.state?.timestampVersion });
    expect(info).toHaveBeenCalledWith(logMessages.snapshotRenewed, { snapshotVersion: 2 });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledWith(logMessages.metadataExpiring, { role: 'targets', version: 1, expires: expiresIn(45, signedAt), daysLeft: 24 });
  });

  it('logs neither far from every expiry', async () => {
    const { repo } = await publishedRepository(signedAt);
    const { handler, info, warn } = handlerOver(repo, at(3));
    await handler(undefined);
    expect(info).not.toHaveBeenCalledWith(logMessages.snapshotRenewed, expect.anything());
    expect(warn).not.toHaveBeenCalled();
  });

  it('fails the run when the renewal fails, after writing the timestamp, so the function\'s error alarm fires', async () => {
    const { repo } = await publishedRepository(signedAt);
    const broken: Signer = { key: repositoryKeys.snapshot.key, sign: async () => Promise.reject(new Error('KMS: access denied')) };
    const { handler, info } = handlerOver(repo, at(22), { snapshot: broken });
    await expect(handler(undefined)).rejects.toThrow('KMS: access denied');
    expect(info).toHaveBeenCalledWith(logMessages.timestampRefreshed, { timestampVersion: 2, snapshotVersion: 1 });
    expect(onlineTimestamp(repo).signed.version).toBe(2);
  });
});
