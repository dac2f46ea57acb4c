/**
 * A replica region's promoter, every minute: serves the newest replica view whose every
 * object has arrived in this region's bucket (lib/releases/replication.ts), and logs what
 * it serves and how long a newer view has waited, which the monitoring stack turns into
 * the `ReplicaViewWaitingSeconds` metric behind the promotion alarm.
 */
import type { Logger } from '#lib/log.ts';
import { logMessages } from '#lib/log.ts';
import type { PromotionResult, ReplicaBucket } from '#lib/releases/replication.ts';
import { promoteReplicaView } from '#lib/releases/replication.ts';

export interface ReplicaPromoterDeps {
  readonly bucket: ReplicaBucket;
  readonly now: () => Date;
  readonly logger: Logger;
}

/** At most this many missing keys in a log line: enough to see which object is stuck. */
const LOGGED_MISSING = 5;

export function createReplicaPromoterHandler(deps: ReplicaPromoterDeps) {
  return async (): Promise<PromotionResult> => {
    const result = await promoteReplicaView(deps);
    deps.logger.info(logMessages.replicaViewChecked, {
      servedTimestampVersion: result.servedVersion ?? null,
      promotedTimestampVersion: result.promoted ?? null,
      waitingTimestampVersion: result.waiting?.timestampVersion ?? null,
      waitingSeconds: result.waitingSeconds,
      missingCount: result.waiting?.missing.length ?? 0,
      missing: result.waiting?.missing.slice(0, LOGGED_MISSING) ?? [],
      unreadableViews: result.unreadable ?? [],
    });
    return result;
  };
}
