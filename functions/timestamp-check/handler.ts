/**
 * Scheduled: fetches timestamp.json through CloudFront, as agents poll it, and publishes
 * how many hours it has left (or that the check failed) for the monitoring stack's alarms
 * (lib/monitoring/timestamp-check.ts says what the answer means). It never throws: a
 * failed fetch is a data point of the failure metric, not a Lambda error to retry.
 */
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Logger } from '#lib/log.ts';
import type { FetchedTimestamp, TimestampCheckResult } from '#lib/monitoring/timestamp-check.ts';
import { evaluateTimestamp, metricValues, timestampCheckMetrics, timestampUrl } from '#lib/monitoring/timestamp-check.ts';

export interface TimestampCheckDeps {
  /** The CDN's base URL, `https://d111111abcdef8.cloudfront.net` or `https://<domainName>`. */
  readonly baseUrl: () => Promise<string>;
  readonly fetchTimestamp: (url: string) => Promise<FetchedTimestamp>;
  /** Publishes one run's metric values. */
  readonly publish: (values: Record<string, number>) => void;
  readonly logger: Logger;
  readonly now: () => Date;
}

export function createTimestampCheckHandler(deps: TimestampCheckDeps) {
  return async (): Promise<TimestampCheckResult> => {
    let url: string | undefined;
    let result: TimestampCheckResult;
    try {
      url = timestampUrl(await deps.baseUrl());
      result = evaluateTimestamp(await deps.fetchTimestamp(url), deps.now());
    } catch (error) {
      // No CDN parameter yet (first deploy), DNS, TLS, a timeout: the check could not tell.
      result = { ok: false, reason: error instanceof Error ? error.message : String(error) };
    }
    deps.publish(metricValues(result));
    if (result.ok) deps.logger.info('timestamp.json at the CDN', { url, ...result });
    else deps.logger.error('timestamp check failed', { url, reason: result.reason });
    return result;
  };
}

/**
 * One GET, as an agent makes it: with a User-Agent (the web ACL's common rule set blocks
 * requests without one), no redirects followed, bounded in time.
 */
export async function fetchTimestamp(url: string, options: { readonly timeoutMs: number; readonly userAgent: string }): Promise<FetchedTimestamp> {
  const response = await fetch(url, { headers: { 'user-agent': options.userAgent, accept: 'application/json' }, redirect: 'manual', signal: AbortSignal.timeout(options.timeoutMs) });
  return { status: response.status, body: await response.text() };
}

/** Publishes a run's values as one embedded-metric-format log line: no CloudWatch API call, so no IAM grant. */
export function metricsPublisher(metrics: Metrics): TimestampCheckDeps['publish'] {
  return (values) => {
    for (const [name, value] of Object.entries(values)) metrics.addMetric(name, name === timestampCheckMetrics.failed ? MetricUnit.Count : MetricUnit.NoUnit, value);
    metrics.publishStoredMetrics();
  };
}

/** `load` once it has succeeded; a failure is retried at the next call (the next scheduled run). */
export function cachedOnSuccess<T>(load: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= load().catch((error: unknown) => {
      value = undefined;
      throw error;
    });
    return value;
  };
}
