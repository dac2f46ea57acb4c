/**
 * The check of `timestamp.json` as agents see it: fetched through CloudFront, as an agent
 * polls it, its signed `expires` read, and the hours left published as a metric. The
 * pure parts live here (what the answer means, which metric values follow, the alarm
 * threshold the deployment config implies); functions/timestamp-check is the Lambda
 * around them, cdk/constructs/timestamp-check.ts its schedule, and the monitoring stack
 * alarms on the metrics (docs/cdk.md, "timestamp.json as agents see it").
 *
 * It complements `timestampRefresh-stalled`, which watches the function that re-signs:
 * this one watches what is served, so it also catches a refresh that succeeds into a
 * bucket nobody serves, an origin failover to a replica whose copy is stale, a broken
 * bucket policy, or a CDN that answers with something else.
 */
import { logMetrics } from '#lib/log.ts';
import { parseTimestamp } from '#lib/tuf/metadata.ts';

/** Where agents poll, under the CDN's base URL (lib/definitions/bucket.ts: `metadata/` is served as `/metadata/`). */
export const TIMESTAMP_PATH = '/metadata/timestamp.json';

/** How often the check runs: often enough to alarm within minutes, far below the refresh period's hour. */
export const CHECK_EVERY_MINUTES = 5;

/**
 * The metrics the check publishes (CloudWatch embedded metric format, so the function
 * needs no `cloudwatch:PutMetricData`), under one `service` dimension.
 */
export const timestampCheckMetrics = {
  namespace: logMetrics.namespace,
  /** The `service` dimension's value. */
  service: 'signet-timestamp-check',
  /** Hours until the served timestamp.json expires (negative once expired); only when the check succeeded. */
  hoursLeft: 'CdnTimestampHoursLeft',
  /** 1 when the fetch or the parse failed, 0 when it succeeded: every run reports one. */
  failed: 'CdnTimestampCheckFailed',
} as const;

/**
 * How many refresh periods old the served timestamp.json may be before the alarm fires.
 * Normally it is at most one period old (plus CloudFront's 60 s); one failed refresh makes
 * it two for a minute or so; past two, the view agents get is stale.
 */
export const STALE_REFRESH_PERIODS = 2;

/** Answers larger than this are not a timestamp.json (ours is under 1 KB). */
export const MAX_TIMESTAMP_BYTES = 64 * 1024;

/**
 * The alarm threshold in hours left: the expiry minus STALE_REFRESH_PERIODS refresh
 * periods (22 h with the defaults, 24 h expiry and hourly refresh). The deployment config
 * requires an expiry of at least three periods, so this leaves at least one period to act.
 */
export function nearExpiryThresholdHours(runtime: { readonly timestampExpiryHours: number; readonly timestampRefreshMinutes: number }): number {
  const hours = runtime.timestampExpiryHours - (STALE_REFRESH_PERIODS * runtime.timestampRefreshMinutes) / 60;
  if (!(hours > 0)) {
    throw new Error(`timestampExpiryHours ${runtime.timestampExpiryHours} must exceed ${STALE_REFRESH_PERIODS} refresh periods of ${runtime.timestampRefreshMinutes} minutes`);
  }
  return hours;
}

/** The URL an agent polls, from the CDN's base URL (`https://d111.cloudfront.net` or `https://<domainName>`). */
export function timestampUrl(baseUrl: string): string {
  const url = new URL(baseUrl);
  if (url.protocol !== 'https:') throw new Error(`the CDN base URL must be https (CloudFront refuses plain HTTP), got ${baseUrl}`);
  return `${url.origin}${TIMESTAMP_PATH}`;
}

/** What the CDN answered. */
export interface FetchedTimestamp {
  readonly status: number;
  readonly body: string;
}

export type TimestampCheckResult =
  | { readonly ok: true; readonly hoursLeft: number; readonly expires: string; readonly version: number; readonly snapshotVersion: number }
  | { readonly ok: false; readonly reason: string };

/**
 * What the answer means: a well-formed TUF timestamp and the hours until its `expires`
 * (negative once expired: still a success of the check, which the expiry alarm then
 * catches), or why it is not one. Signatures are not verified: that needs the trusted
 * root, which agents hold and the check does not (docs/cdk.md).
 */
export function evaluateTimestamp(fetched: FetchedTimestamp, now: Date): TimestampCheckResult {
  if (fetched.status !== 200) return { ok: false, reason: `HTTP ${fetched.status}` };
  if (fetched.body.length > MAX_TIMESTAMP_BYTES) return { ok: false, reason: `answer of ${fetched.body.length} bytes, more than ${MAX_TIMESTAMP_BYTES}` };
  let timestamp;
  try {
    timestamp = parseTimestamp(fetched.body);
  } catch (error) {
    return { ok: false, reason: `not a TUF timestamp: ${error instanceof Error ? error.message : String(error)}` };
  }
  const { expires, version, snapshotMeta } = timestamp.signed;
  const expiresAt = Date.parse(expires);
  if (Number.isNaN(expiresAt)) return { ok: false, reason: `unreadable expires "${expires}"` };
  return { ok: true, hoursLeft: (expiresAt - now.getTime()) / 3_600_000, expires, version, snapshotVersion: snapshotMeta.version };
}

/** The metric values of one run: a failure flag always, so a silent check is missing data, and hours left when known. */
export function metricValues(result: TimestampCheckResult): Record<string, number> {
  return result.ok
    ? { [timestampCheckMetrics.failed]: 0, [timestampCheckMetrics.hoursLeft]: result.hoursLeft }
    : { [timestampCheckMetrics.failed]: 1 };
}
