/**
 * Scheduled: re-signs timestamp.json well before it expires (`timestampExpiryHours`; it
 * runs every `timestampRefreshMinutes`), so agents can tell a live repository from a
 * frozen or replayed one. Holds the timestamp key only.
 */
import { s3ObjectStore } from '#lib/aws/objects.ts';
import type { Logger } from '#lib/log.ts';
import { logMessages } from '#lib/log.ts';
import type { TimestampDeps } from '#lib/releases/repository.ts';
import { refreshTimestamp } from '#lib/releases/repository.ts';
import { ReleaseStore } from '#lib/releases/store.ts';
import type { Services } from '#lib/services.ts';

export interface TimestampRefreshDeps extends TimestampDeps {
  readonly logger: Logger;
}

export async function timestampRefreshDependencies(services: Services): Promise<TimestampRefreshDeps> {
  const { config } = services;
  return {
    store: new ReleaseStore(services.dynamo, config.get('mainTable')),
    objects: s3ObjectStore(services.s3(), config.get('bucket')),
    signers: { timestamp: await services.onlineSigner('timestamp') },
    now: services.now,
    timestampExpiryHours: config.get('timestampExpiryHours'),
    logger: services.logger,
  };
}

export function createTimestampRefreshHandler(deps: TimestampRefreshDeps) {
  return async (): Promise<{ timestampVersion: number | null }> => {
    const result = await refreshTimestamp(deps);
    deps.logger.info(logMessages.timestampRefreshed, { timestampVersion: result?.timestampVersion ?? null });
    return { timestampVersion: result?.timestampVersion ?? null };
  };
}
