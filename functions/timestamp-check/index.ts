/** Lambda entry: the timestamp check, built once per container from the environment. */
import { Metrics } from '@aws-lambda-powertools/metrics';
import { readCdnParameter } from '#lib/aws/cloud-cdn.ts';
import { configFromEnv } from '#lib/config.ts';
import { timestampCheck } from '#lib/definitions/checks.ts';
import { createLogger } from '#lib/log.ts';
import { timestampCheckMetrics } from '#lib/monitoring/timestamp-check.ts';
import { cachedOnSuccess, createTimestampCheckHandler, fetchTimestamp, metricsPublisher } from './handler.ts';

const config = configFromEnv(timestampCheck.id, timestampCheck.variables, process.env);
const userAgent = `signet-timestamp-check (${process.env.AWS_REGION ?? 'unknown region'})`;

export const handler = createTimestampCheckHandler({
  // Read at the first run that needs it, not at init: before the global stack exists the
  // parameter does not, and that must be a failed check (a metric), not a crashed function.
  baseUrl: cachedOnSuccess(async () => (await readCdnParameter(config.get('cdnParameter'), config.get('cdnParameterRegion'))).baseUrl),
  fetchTimestamp: (url) => fetchTimestamp(url, { timeoutMs: 10_000, userAgent }),
  publish: metricsPublisher(new Metrics({ namespace: timestampCheckMetrics.namespace, serviceName: timestampCheckMetrics.service })),
  logger: createLogger('timestamp-check'),
  now: () => new Date(),
});
