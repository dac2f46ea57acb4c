/**
 * The repository's own upkeep. Scheduled: re-signs timestamp.json well before it expires
 * (`timestampExpiryHours`; it runs every `timestampRefreshMinutes`), so agents can tell a
 * live repository from a frozen or replayed one; signs a new snapshot when the current one
 * nears its expiry; and warns when the targets or root metadata, which only CI or the
 * offline root keys can extend, expire within 30 days. Invoked with `{ moveSnapshot: true }`
 * (by the reports function, after an auto-halt): a new snapshot, so agents notice the
 * rollout change at their next poll.
 */
import { s3ObjectStore } from '#lib/aws/objects.ts';
import type { Logger } from '#lib/log.ts';
import { logMessages } from '#lib/log.ts';
import type { RepositoryDeps } from '#lib/releases/repository.ts';
import { moveSnapshot, refreshRepository } from '#lib/releases/repository.ts';
import { ReleaseStore } from '#lib/releases/store.ts';
import type { Services } from '#lib/services.ts';

export interface TimestampRefreshDeps extends RepositoryDeps {
  readonly logger: Logger;
}

export async function timestampRefreshDependencies(services: Services): Promise<TimestampRefreshDeps> {
  const { config } = services;
  return {
    store: new ReleaseStore(services.dynamo, config.get('mainTable')),
    objects: s3ObjectStore(services.s3(), config.get('bucket')),
    signers: { snapshot: await services.onlineSigner('snapshot'), timestamp: await services.onlineSigner('timestamp') },
    now: services.now,
    timestampExpiryHours: config.get('timestampExpiryHours'),
    replicaViews: config.writesReplicaViews(),
    logger: services.logger,
  };
}

/** What the function is invoked with: an EventBridge event on schedule, or a request to move the snapshot. */
export type RepositoryEvent = { readonly moveSnapshot?: boolean } | undefined;

export function createTimestampRefreshHandler(deps: TimestampRefreshDeps) {
  return async (event: RepositoryEvent): Promise<{ timestampVersion: number | null }> => {
    if (event?.moveSnapshot === true) {
      const moved = await moveSnapshot(deps);
      deps.logger.info(logMessages.snapshotMoved, { snapshotVersion: moved?.snapshotVersion ?? null });
    }
    const result = await refreshRepository(deps);
    if (result?.snapshotRenewed !== undefined) deps.logger.info(logMessages.snapshotRenewed, { snapshotVersion: result.snapshotRenewed });
    for (const { role, version, expires, daysLeft } of result?.expiring ?? []) {
      deps.logger.warn(logMessages.metadataExpiring, { role, version, expires, daysLeft });
    }
    deps.logger.info(logMessages.timestampRefreshed, { timestampVersion: result?.timestampVersion ?? null, snapshotVersion: result?.snapshotVersion ?? null });
    // The timestamp is fresh, but the snapshot has days left at most: fail the run, so the function's error alarm fires.
    if (result?.renewalFailure !== undefined) throw result.renewalFailure;
    return { timestampVersion: result?.timestampVersion ?? null };
  };
}
