/**
 * The repository's own upkeep. Scheduled: re-signs timestamp.json well before it expires
 * (`timestampExpiryHours`; it runs every `timestampRefreshMinutes`), so agents can tell a
 * live repository from a frozen or replayed one. Invoked with `{ moveSnapshot: true }`
 * (by the reports function, after an auto-halt): a new snapshot, so agents notice the
 * rollout change at their next poll.
 */
import { s3ObjectStore } from '#lib/aws/objects.ts';
import type { Logger } from '#lib/log.ts';
import { logMessages } from '#lib/log.ts';
import type { RepositoryDeps } from '#lib/releases/repository.ts';
import { moveSnapshot, refreshTimestamp } from '#lib/releases/repository.ts';
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
    const result = await refreshTimestamp(deps);
    deps.logger.info(logMessages.timestampRefreshed, { timestampVersion: result?.timestampVersion ?? null });
    return { timestampVersion: result?.timestampVersion ?? null };
  };
}
