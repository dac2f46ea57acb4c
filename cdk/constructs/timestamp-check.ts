/**
 * The scheduled check of timestamp.json as agents see it (lib/monitoring/timestamp-check.ts):
 * a SignetFunction that may read the CDN identity parameter and write its own log group,
 * nothing else (its metrics are embedded-metric-format log lines, so no
 * `cloudwatch:PutMetricData` on `*`), run by an EventBridge rule every
 * CHECK_EVERY_MINUTES. The monitoring stack alarms on its metrics.
 */
import { Duration } from 'aws-cdk-lib';
import type { RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { CheckDefinition } from '#lib/definitions/checks.ts';
import { timestampCheck } from '#lib/definitions/checks.ts';
import { CHECK_EVERY_MINUTES, timestampCheckMetrics } from '#lib/monitoring/timestamp-check.ts';
import { SignetFunction } from './signet-function.ts';

export interface TimestampCheckProps {
  /** The SSM parameter with the CDN's identity, and its region: the stack's own (the global stack copies it into every region, docs/cdk.md). */
  readonly cdnParameter: { readonly name: string; readonly region: string };
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
  /** @default - `timestampCheck` of lib/definitions/checks.ts */
  readonly definition?: CheckDefinition;
}

export class TimestampCheck extends Construct {
  readonly fn: SignetFunction;
  readonly schedule: events.Rule;
  /** Hours until the served timestamp.json expires, the lowest of each period. */
  readonly hoursLeft: cloudwatch.Metric;
  /** Runs whose fetch or parse failed, the highest of each period (0 or 1); no data when the check did not run. */
  readonly failed: cloudwatch.Metric;

  constructor(scope: Construct, id: string, props: TimestampCheckProps) {
    super(scope, id);
    const definition = props.definition ?? timestampCheck;
    this.fn = new SignetFunction(this, definition.id, {
      entry: definition.entry,
      description: `Signet ${definition.id}: timestamp.json through the CDN, as agents see it`,
      memorySize: definition.memoryMb,
      timeout: Duration.seconds(definition.timeoutSeconds),
      logRetention: props.logRetention,
      logRemovalPolicy: props.logRemovalPolicy,
    });
    this.fn.bindCdnParameter(props.cdnParameter.name, props.cdnParameter.region);
    const declared = new Set(definition.variables);
    const set = this.fn.variablesSet;
    if (declared.size !== set.size || [...set].some((key) => !declared.has(key))) {
      throw new Error(`${definition.id}: declares ${[...declared].join(', ')} but is given ${[...set].join(', ')}`);
    }

    const every = Duration.minutes(CHECK_EVERY_MINUTES);
    this.schedule = new events.Rule(this, 'Schedule', {
      description: `Signet: fetches timestamp.json through the CDN every ${CHECK_EVERY_MINUTES} minutes`,
      schedule: events.Schedule.rate(every),
      // The next run makes up for a missed one.
      targets: [new targets.LambdaFunction(this.fn.function, { retryAttempts: 2, maxEventAge: every })],
    });

    const metric = (metricName: string, statistic: string, label: string) =>
      new cloudwatch.Metric({ namespace: timestampCheckMetrics.namespace, metricName, dimensionsMap: { service: timestampCheckMetrics.service }, period: every, statistic, label });
    this.hoursLeft = metric(timestampCheckMetrics.hoursLeft, 'Minimum', 'timestamp.json at the CDN: hours left');
    this.failed = metric(timestampCheckMetrics.failed, 'Maximum', 'timestamp check failed');
  }
}
