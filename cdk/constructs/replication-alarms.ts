/**
 * The alarms of replication (docs/cdk.md, "Replication alarms"), added by each region's
 * monitoring stack to its alarm topic:
 * - primary region (where S3 publishes replication metrics: the source bucket's region):
 *   per replica bucket, replication latency above S3 RTC's 15-minute bound;
 * - replica region: a replica view newer than the served one has waited too long (a stuck
 *   or lagging replication, or a promoter that does not run).
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { replicaViewPrefix, targetsSpace } from '#lib/definitions/bucket.ts';
import { logMessages, logMetrics } from '#lib/log.ts';
import type { StorageResources } from '../stacks/storage-stack.ts';
import { REPLICATION_TIME_MINUTES, replicationRuleId } from './bucket-replication.ts';
import { PROMOTER_PERIOD } from './replica-promoter.ts';

export type AlarmFactory = (key: string, props: Omit<cloudwatch.AlarmProps, 'alarmName' | 'actionsEnabled'>) => cloudwatch.Alarm;

const PERIOD = Duration.minutes(5);

/**
 * A view waiting longer than this pages: S3 RTC replicates 99.99% of objects within 15
 * minutes, the promoter runs every minute, and the rest is margin for a release's many
 * objects arriving one after another.
 */
export const REPLICA_VIEW_WAITING_ALARM_SECONDS = 30 * 60;

/**
 * The rules whose latency is alarmed on: the targets (nearly all bytes, so the slowest) and
 * the views. Metadata files are a few KB each; a stuck one shows in replica-view-waiting.
 */
const LATENCY_PREFIXES = { targets: targetsSpace.prefix, views: replicaViewPrefix } as const;

export function replicationAlarms(scope: Construct, storage: StorageResources, alarm: AlarmFactory): void {
  for (const destination of storage.replication?.destinations ?? []) {
    const latency = (prefix: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/S3',
        metricName: 'ReplicationLatency',
        dimensionsMap: { SourceBucket: storage.bucket.bucketName, DestinationBucket: destination.bucket.bucketName, RuleId: replicationRuleId(destination.region, prefix) },
        statistic: 'Maximum',
        period: PERIOD,
      });
    alarm(`replication-latency-${destination.region}`, {
      alarmDescription:
        `Objects take more than ${REPLICATION_TIME_MINUTES} minutes (S3 RTC's bound) to replicate to the signature bucket in ${destination.region}. ` +
        'That region serves its previous complete view meanwhile, and would serve an older repository if CloudFront failed over to it. ' +
        'See the replication metrics of the primary bucket (OperationsFailedReplication) and the AWS Health Dashboard.',
      metric: new cloudwatch.MathExpression({
        expression: `MAX([${Object.keys(LATENCY_PREFIXES).join(', ')}])`,
        usingMetrics: Object.fromEntries(Object.entries(LATENCY_PREFIXES).map(([id, prefix]) => [id, latency(prefix)])),
        period: PERIOD,
        label: `replication latency to ${destination.region} (s)`,
      }),
      threshold: REPLICATION_TIME_MINUTES * 60,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      // No data: nothing was written to replicate.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  if (storage.promoter) {
    const waiting = new logs.MetricFilter(scope, 'ReplicaViewWaiting', {
      logGroup: storage.promoter.fn.logGroup,
      // Powertools writes the JSON line to stdout itself, so Lambda adds no prefix and the fields can be read.
      filterPattern: logs.FilterPattern.stringValue('$.message', '=', logMessages.replicaViewChecked),
      metricNamespace: logMetrics.namespace,
      metricName: logMetrics.replicaViewWaiting,
      metricValue: '$.waitingSeconds',
    }).metric({ period: PERIOD, statistic: 'Maximum', label: 'seconds a newer replica view has waited' });
    alarm('replica-view-waiting', {
      alarmDescription:
        `A timestamp the primary published ${REPLICA_VIEW_WAITING_ALARM_SECONDS / 60} minutes ago or more is still not served by this region's bucket: ` +
        'an object it names has not replicated (the promoter log lists the missing keys), or the promoter does not run (no data counts as breaching: ' +
        `it runs every ${PROMOTER_PERIOD.toMinutes()} minute). Agents failed over to this region see an older repository meanwhile, never a broken one.`,
      metric: waiting,
      threshold: REPLICA_VIEW_WAITING_ALARM_SECONDS,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
  }
}
