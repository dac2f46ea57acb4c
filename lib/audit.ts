/**
 * The audit trail: who changed what and when. An entry is written in the same
 * transaction as the change it records, so the trail has neither gaps nor ghosts.
 * One partition per UTC day, sorted by time; `ttl` removes entries after 400 days.
 */
import { randomUUID } from 'node:crypto';

export interface AuditEntry {
  /** The IAM principal (or `signet` for the service's own actions, such as seat reclaims). */
  readonly actor: string;
  readonly action: string;
  readonly subject: string;
  readonly detail?: Record<string, unknown>;
}

const RETENTION_SECONDS = 400 * 86_400;

export const auditPartition = (day: string) => `AUDIT#${day}`;

export function auditKey(at: Date, id: string) {
  return { pk: auditPartition(at.toISOString().slice(0, 10)), sk: `${at.toISOString()}#${id}` };
}

/** The TransactWriteItems element that records `entry`. */
export function auditPut(table: string, entry: AuditEntry, at: Date) {
  return {
    Put: {
      TableName: table,
      Item: { ...auditKey(at, randomUUID()), ...entry, at: at.toISOString(), ttl: Math.floor(at.getTime() / 1000) + RETENTION_SECONDS },
    },
  };
}
