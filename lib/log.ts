/**
 * The functions' one structured logger (Powertools Logger: a JSON line per entry, with
 * the request id and cold-start flag Lambda gives it), and the log messages and metric
 * names that something outside the code depends on: the monitoring stack's metric
 * filters and alarms import them from here, so a reworded message cannot silently stop
 * an alarm from counting.
 */
import { Logger } from '@aws-lambda-powertools/logger';

export type { Logger };

/** Messages a metric filter matches; keep each a fixed string (the details go in fields). */
export const logMessages = {
  /** The reports function (or the mirrors function, for relayed reports) halted a rollout whose version failed too often. */
  autoHalt: 'rollout halted by its failure rate',
  /** The scheduled refresh re-signed timestamp.json. */
  timestampRefreshed: 'timestamp refreshed',
  /** A new snapshot over the same targets: a rollout changed. */
  snapshotMoved: 'snapshot moved',
  /** The scheduled refresh signed a new snapshot over the same targets: the current one neared its expiry. */
  snapshotRenewed: 'snapshot renewed before its expiry',
  /** Targets or root metadata expires within 30 days: only a publish (CI's targets key) or a new root (offline keys) extends it. */
  metadataExpiring: 'signed metadata expires soon',
  /** A replica region's promoter ran: what it serves, what it promoted, what still waits for replication (with `waitingSeconds`). */
  replicaViewChecked: 'replica view checked',
  /** A bug: an error no refusal describes. */
  unhandledError: 'unhandled error',
} as const;

/** CloudWatch metrics the monitoring stack derives from the logs. */
export const logMetrics = {
  namespace: 'Signet',
  registrations: 'RegistrationRequests',
  autoHalts: 'RolloutAutoHalts',
  metadataExpiring: 'MetadataExpiringSoon',
  /** Seconds the oldest staged view newer than the served one has waited in a replica region (0: none waits). */
  replicaViewWaiting: 'ReplicaViewWaitingSeconds',
} as const;

export function createLogger(serviceName: string, options: { logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT' } = {}): Logger {
  return new Logger({ serviceName: `signet-${serviceName}`, ...(options.logLevel && { logLevel: options.logLevel }) });
}
