/**
 * Monitoring of one region: CloudWatch alarms on what breaks agents' updates (the HTTP
 * API's 5xx rate and p99 latency, function errors, a scheduled function that stopped
 * succeeding, DynamoDB throttling, a rollout the service halted, targets or root metadata
 * near its expiry, timestamp.json as agents get it through the CDN near its expiry or not
 * checkable), an encrypted SNS topic they notify, and a dashboard. One per region, beside that region's API: an alarm can
 * only watch metrics of its own region, and a region's monitoring should not depend on
 * another region being up. It takes the API and storage stacks' resources as typed props
 * and creates nothing they use, so it can be destroyed and redeployed freely. Its one
 * function is the scheduled check of timestamp.json through the CDN, which reads the CDN
 * identity parameter at run time rather than referencing the global stack (deployed after
 * this one).
 */
import { ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import * as budgets from 'aws-cdk-lib/aws-budgets';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import type { FunctionDefinition, RouteDefinition } from '#lib/definitions/routes.ts';
import { functions as definedFunctions, routeKey, routes as definedRoutes } from '#lib/definitions/routes.ts';
import type { TableDefinition } from '#lib/definitions/tables.ts';
import { tables as definedTables } from '#lib/definitions/tables.ts';
import { logMessages, logMetrics } from '#lib/log.ts';
import { CHECK_EVERY_MINUTES, STALE_REFRESH_PERIODS, nearExpiryThresholdHours } from '#lib/monitoring/timestamp-check.ts';
import { EXPIRY_WARNING_DAYS } from '#lib/releases/expiry.ts';
import { replicationAlarms } from '../constructs/replication-alarms.ts';
import type { SignetConfig } from '../config.ts';
import { accountKeyPolicy } from '../constructs/key-policy.ts';
import type { SignetFunction } from '../constructs/signet-function.ts';
import { TimestampCheck } from '../constructs/timestamp-check.ts';
import type { ApiResources } from './api-stack.ts';
import type { StorageResources } from './storage-stack.ts';

/** The registration route, counted from the API's access log (the `agents` function serves other routes too). */
export const REGISTRATION_ROUTE_KEY = 'POST /v1/agents';


/** The account's monthly cost budget (primary region's stack). */
export const BUDGET_NAME = 'Signet-monthly-cost';
/** Percent of the budget actually spent, and forecast for the month, that notify the alarm topic. */
export const BUDGET_ACTUAL_PERCENT = 80;
export const BUDGET_FORECAST_PERCENT = 100;

/** The HTTP API 5xx-rate alarm ignores periods with fewer requests: two errors in three requests is not an outage signal. */
export const MIN_REQUESTS_FOR_ERROR_RATE = 10;

/** The scheduled function that keeps the signed repository fresh, and warns of metadata expiring soon. */
export const REPOSITORY_FUNCTION_ID = 'timestampRefresh';

/** Consecutive schedule periods without a successful run before the stall alarm fires. */
export const STALLED_PERIODS = 3;

/** Checks of timestamp.json through the CDN: below the threshold in this many in a row alarms (a single odd edge answer does not). */
export const CDN_TIMESTAMP_EXPIRY_CHECKS = 2;
/** Failed or missing checks, of the last CDN_TIMESTAMP_FAILING_OF, that alarm: one network blip does not. */
export const CDN_TIMESTAMP_FAILING_CHECKS = 2;
export const CDN_TIMESTAMP_FAILING_OF = 3;

const FIVE_MINUTES = Duration.minutes(5);

export interface MonitoringStackProps extends StackProps {
  readonly config: SignetConfig;
  /** This region's API stack. */
  readonly api: ApiResources;
  /** This region's storage (its tables, or its replicas of the global tables). */
  readonly storage: StorageResources;
  /** @default - `functions` of lib/definitions/routes.ts */
  readonly functions?: readonly FunctionDefinition[];
  /** @default - `routes` of lib/definitions/routes.ts */
  readonly routes?: readonly RouteDefinition[];
  /** @default - `tables` of lib/definitions/tables.ts */
  readonly tables?: readonly TableDefinition[];
}

export class MonitoringStack extends Stack {
  /** Every alarm notifies it (ALARM and OK); subscribe to its ARN (output AlarmTopicArn). */
  readonly topic: sns.Topic;
  readonly topicKey: kms.Key;
  /**
   * By a stable id: `api-5xx-rate`, `api-latency-p99`, `<function>-errors`, `<function>-stalled`, `<table>-throttles`, `rollout-auto-halts`,
   * `metadata-expiring` (where the refresh is scheduled), `cdn-timestamp-expiry`, `cdn-timestamp-check-failing`.
   */
  readonly alarms: ReadonlyMap<string, cloudwatch.Alarm>;
  readonly dashboard: cloudwatch.Dashboard;
  /** What alarm names start with (`Signet-<region>-`): the topic and key policies allow CloudWatch for these alarms only. */
  readonly alarmNamePrefix: string;
  /** The account's monthly cost budget, notifying the topic: in the primary region's stack only (a budget is account-wide). */
  readonly budget?: budgets.CfnBudget;
  /** The scheduled check of timestamp.json through the CDN, from this region. */
  readonly timestampCheck: TimestampCheck;

  constructor(scope: Construct, id: string, props: MonitoringStackProps) {
    super(scope, id, props);
    const { config, api, storage } = props;
    // A replica region's API has the agent functions only (primaryOnly ones stay in the primary).
    const functions = (props.functions ?? definedFunctions).filter((d) => api.functions.has(d.id));
    const routes = props.routes ?? definedRoutes;
    const tables = props.tables ?? definedTables;
    this.alarmNamePrefix = `Signet-${this.region}-`;
    const alarmArns = this.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: `${this.alarmNamePrefix}*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });

    // --- Where alarms go -------------------------------------------------------------
    // A customer managed key, not alias/aws/sns: CloudWatch may not use an AWS managed key,
    // so alarms to a topic encrypted with one are silently dropped.
    this.topicKey = new kms.Key(this, 'AlarmTopicKey', {
      description: `Signet: encrypts the alarm topic in ${this.region}`,
      enableKeyRotation: true,
      policy: accountKeyPolicy(),
      pendingWindow: Duration.days(7),
      // Nothing stays encrypted under it: SNS keeps no messages once delivered.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `Signet alarms (${this.region})`,
      masterKey: this.topicKey,
      enforceSSL: true,
    });
    // CloudWatch alarms (and, in the primary region, the cost budget) publish here.
    this.letPublish('cloudwatch.amazonaws.com', 'CloudWatchAlarms', alarmArns);
    if (this.region === config.primaryRegion) this.budget = this.monthlyCostBudget(config.monitoring.monthlyBudgetUsd);
    if (config.monitoring.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(config.monitoring.alarmEmail));
    const action = new cwActions.SnsAction(this.topic);

    const alarms = new Map<string, cloudwatch.Alarm>();
    const alarm = (key: string, props: Omit<cloudwatch.AlarmProps, 'alarmName' | 'actionsEnabled'>): cloudwatch.Alarm => {
      const created = new cloudwatch.Alarm(this, `Alarm-${key}`, { ...props, alarmName: `${this.alarmNamePrefix}${key}`, actionsEnabled: true });
      created.addAlarmAction(action);
      created.addOkAction(action);
      alarms.set(key, created);
      return created;
    };

    // --- HTTP API ----------------------------------------------------------------------
    const requests = api.api.metricCount({ period: FIVE_MINUTES, statistic: 'Sum', label: 'requests' });
    const serverErrors = api.api.metricServerError({ period: FIVE_MINUTES, statistic: 'Sum', label: '5xx' });
    const clientErrors = api.api.metricClientError({ period: FIVE_MINUTES, statistic: 'Sum', label: '4xx' });
    const errorRate = new cloudwatch.MathExpression({
      expression: `IF(requests >= ${MIN_REQUESTS_FOR_ERROR_RATE}, 100 * FILL(errors, 0) / requests, 0)`,
      usingMetrics: { requests, errors: serverErrors },
      period: FIVE_MINUTES,
      label: '5xx, % of requests',
    });
    alarm('api-5xx-rate', {
      alarmDescription:
        `More than ${config.monitoring.api5xxPercent}% of the HTTP API's requests answered 5xx in 2 of the last 3 five-minute periods ` +
        `(periods with fewer than ${MIN_REQUESTS_FOR_ERROR_RATE} requests count as healthy). Agents retry with back-off; see the function logs and the API access log.`,
      metric: errorRate,
      threshold: config.monitoring.api5xxPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const latencyP99 = api.api.metricLatency({ period: FIVE_MINUTES, statistic: 'p99', label: 'latency p99' });
    alarm('api-latency-p99', {
      alarmDescription: `The HTTP API's p99 latency stayed above ${config.monitoring.apiLatencyP99Ms} ms for 15 minutes (3 five-minute periods).`,
      metric: latencyP99,
      threshold: config.monitoring.apiLatencyP99Ms,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // --- Functions -----------------------------------------------------------------------
    // The API handlers turn every error into a response (lib/http/handler.ts), so Lambda's
    // Errors counts only what escapes them: timeouts, out of memory, a failed cold start (for
    // the manifest function, an unreadable CDN parameter). Each is a defect.
    const fn = (functionId: string): SignetFunction => {
      const found = api.functions.get(functionId);
      if (!found) throw new Error(`${this.node.path}: no function "${functionId}" in the API stack`);
      return found;
    };
    for (const definition of functions) {
      const lambda = fn(definition.id).function;
      const scheduled = definition.scheduled === true && api.schedules.has(definition.id);
      const period = scheduled ? Duration.minutes(config.runtime.timestampRefreshMinutes) : FIVE_MINUTES;
      // Agent-facing functions see steady traffic: one timeout is noise, a second period with errors is not.
      const agentFacing = routes.some((r) => r.functionId === definition.id && r.authorization === 'public');
      alarm(`${definition.id}-errors`, {
        alarmDescription: agentFacing
          ? `Signet ${definition.id}: Lambda errors (timeouts, crashes, failed cold starts) in 2 of the last 3 five-minute periods.`
          : `Signet ${definition.id}: a Lambda error (timeout, crash, failed cold start) in the last ${period.toMinutes()} minutes.`,
        metric: lambda.metricErrors({ period, statistic: 'Sum' }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: agentFacing ? 3 : 1,
        datapointsToAlarm: agentFacing ? 2 : 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      if (scheduled) {
        // The alarm that matters most: timestamp.json is valid for a day; if the refresh
        // stops succeeding (errors, or no runs at all: a disabled rule, a lost permission,
        // throttling), agents refuse the repository as frozen when it expires.
        const successes = new cloudwatch.MathExpression({
          expression: 'FILL(invocations, 0) - FILL(errors, 0)',
          usingMetrics: { invocations: lambda.metricInvocations({ period, statistic: 'Sum' }), errors: lambda.metricErrors({ period, statistic: 'Sum' }) },
          period,
          label: `${definition.id} successful runs`,
        });
        alarm(`${definition.id}-stalled`, {
          alarmDescription:
            `Signet ${definition.id} has not run successfully for ${STALLED_PERIODS} schedule periods (${STALLED_PERIODS * period.toMinutes()} minutes): ` +
            'no invocation, or every one failed. timestamp.json expires a day after its last refresh, and agents then stop updating. ' +
            'Check the EventBridge rule, the function\'s log group, and its KMS and S3 access.',
          metric: successes,
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
          evaluationPeriods: STALLED_PERIODS,
          datapointsToAlarm: STALLED_PERIODS,
          // No data at all is exactly the failure this alarm exists for.
          treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        });
      }
    }

    // --- DynamoDB ------------------------------------------------------------------------
    const tableMetric = (table: TableDefinition, metricName: string, index?: string, label?: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/DynamoDB',
        metricName,
        dimensionsMap: { TableName: storage.tableFor(table).tableName, ...(index ? { GlobalSecondaryIndexName: index } : {}) },
        period: FIVE_MINUTES,
        statistic: 'Sum',
        label: label ?? `${table.id}${index ? `/${index}` : ''} ${metricName}`,
      });
    const throttleExpressions = new Map<string, cloudwatch.MathExpression>();
    for (const table of tables) {
      const usingMetrics: Record<string, cloudwatch.IMetric> = {
        readThrottles: tableMetric(table, 'ReadThrottleEvents'),
        writeThrottles: tableMetric(table, 'WriteThrottleEvents'),
      };
      table.globalSecondaryIndexes.forEach((index, i) => {
        usingMetrics[`indexRead${i}`] = tableMetric(table, 'ReadThrottleEvents', index.indexName);
        usingMetrics[`indexWrite${i}`] = tableMetric(table, 'WriteThrottleEvents', index.indexName);
      });
      const throttles = new cloudwatch.MathExpression({
        expression: Object.keys(usingMetrics).map((name) => `FILL(${name}, 0)`).join(' + '),
        usingMetrics,
        period: FIVE_MINUTES,
        label: `${table.id} throttle events (table and indexes)`,
      });
      throttleExpressions.set(table.id, throttles);
      alarm(`${table.id}-throttles`, {
        alarmDescription:
          `DynamoDB throttled requests to the ${table.id} table or its indexes in 2 of the last 3 five-minute periods. On-demand tables throttle past twice ` +
          'their previous peak or on a hot partition; the SDK retries, but registrations and manifests slow down or fail.',
        metric: throttles,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }

    // --- Metrics from logs ---------------------------------------------------------------
    if (!routes.some((r) => routeKey(r) === REGISTRATION_ROUTE_KEY)) throw new Error(`${this.node.path}: no route ${REGISTRATION_ROUTE_KEY} to count registrations of`);
    const registrations = new logs.MetricFilter(this, 'RegistrationRequests', {
      logGroup: api.accessLogs,
      filterPattern: logs.FilterPattern.stringValue('$.routeKey', '=', REGISTRATION_ROUTE_KEY),
      metricNamespace: logMetrics.namespace,
      metricName: logMetrics.registrations,
      metricValue: '1',
    }).metric({ period: FIVE_MINUTES, statistic: 'Sum', label: `registrations (${REGISTRATION_ROUTE_KEY})` });
    const autoHaltFilter = (id: string, functionId: string) =>
      new logs.MetricFilter(this, id, {
        logGroup: fn(functionId).logGroup,
        // A quoted phrase, not a JSON selector: Lambda's text log format puts a timestamp,
        // request id and level before the handler's JSON, and a phrase matches either way.
        // The message the reports and mirrors functions log when they halt a rollout: all import it from lib/log.ts.
        filterPattern: logs.FilterPattern.allTerms(logMessages.autoHalt),
        metricNamespace: logMetrics.namespace,
        metricName: logMetrics.autoHalts,
        metricValue: '1',
      });
    const autoHalts = autoHaltFilter('RolloutAutoHalts', 'reports').metric({ period: FIVE_MINUTES, statistic: 'Sum', label: 'rollouts halted by their failure rate' });
    // Reports a site mirror relays halt rollouts too, logged by the mirrors function with the same message, into the same metric.
    if (api.functions.has('mirrors')) autoHaltFilter('RolloutAutoHaltsRelayed', 'mirrors');
    alarm('rollout-auto-halts', {
      alarmDescription:
        'Agents reported failed installs of a version being rolled out often enough that the service halted its channel (POST /v1/reports, or relayed by a site mirror). ' +
        'Agents outside the wave keep the previous version; see signet audit and signet fleet <product>, then roll back or promote a fix.',
      metric: autoHalts,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    // The repository function warns at every scheduled run while targets or root metadata
    // expires within EXPIRY_WARNING_DAYS: the service cannot re-sign those, a person must.
    // Only where the refresh runs (the primary region); one quiet period is a run that fell
    // just outside it, not the end of the warnings, hence 1 of the last STALLED_PERIODS.
    if (api.schedules.has(REPOSITORY_FUNCTION_ID)) {
      const period = Duration.minutes(config.runtime.timestampRefreshMinutes);
      const expiring = new logs.MetricFilter(this, 'MetadataExpiringSoon', {
        logGroup: fn(REPOSITORY_FUNCTION_ID).logGroup,
        filterPattern: logs.FilterPattern.allTerms(logMessages.metadataExpiring),
        metricNamespace: logMetrics.namespace,
        metricName: logMetrics.metadataExpiring,
        metricValue: '1',
      }).metric({ period, statistic: 'Sum', label: `targets or root metadata expiring within ${EXPIRY_WARNING_DAYS} days` });
      alarm('metadata-expiring', {
        alarmDescription:
          `Signed metadata the service cannot re-sign expires within ${EXPIRY_WARNING_DAYS} days: the targets metadata (extended by the next signet publish, ` +
          'CI\'s targets key) or the root (extended only by a new root signed with the offline root keys, signet keys rotate-root). Agents refuse the repository ' +
          `once it expires. The ${REPOSITORY_FUNCTION_ID} log says which role, version and how many days are left.`,
        metric: expiring,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: STALLED_PERIODS,
        datapointsToAlarm: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    // Replication: latency per replica bucket (primary), views waiting too long (replica).
    replicationAlarms(this, storage, alarm);
    // --- timestamp.json as agents see it -------------------------------------------------------
    // Every region checks, through CloudFront: what agents near each region get (an edge's
    // cache, a failed-over origin) is what each check sees, and one region's outage does
    // not silence the others' alarms.
    this.timestampCheck = new TimestampCheck(this, 'TimestampCheck', {
      cdnParameter: { name: config.cdnParameterName, region: this.region },
      logRetention: config.logRetentionDays,
      logRemovalPolicy: config.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    const refreshHours = config.runtime.timestampRefreshMinutes / 60;
    const thresholdHours = nearExpiryThresholdHours(config.runtime);
    alarm('cdn-timestamp-expiry', {
      alarmDescription:
        `timestamp.json as agents in ${this.region} get it through CloudFront has less than ${thresholdHours} h left of its ${config.runtime.timestampExpiryHours} h ` +
        `in ${CDN_TIMESTAMP_EXPIRY_CHECKS} checks in a row: it missed ${STALE_REFRESH_PERIODS} refreshes (every ${config.runtime.timestampRefreshMinutes} minutes). ` +
        'Agents stop updating when it expires. If the primary region\'s timestampRefresh-stalled is OK, the refresh works but its result is not served: check what CloudFront ' +
        "serves /metadata/* from (origin failover, the replica bucket's replication) and the signature bucket's metadata/timestamp.json (docs/operations.md).",
      metric: this.timestampCheck.hoursLeft,
      threshold: thresholdHours,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: CDN_TIMESTAMP_EXPIRY_CHECKS,
      datapointsToAlarm: CDN_TIMESTAMP_EXPIRY_CHECKS,
      // A check that could not tell is cdn-timestamp-check-failing's to report, not a second alarm here.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm('cdn-timestamp-check-failing', {
      alarmDescription:
        `The check of timestamp.json through CloudFront from ${this.region} failed (an HTTP error, a timeout, an answer that is no TUF timestamp, ` +
        `no CDN identity parameter) or did not run, in ${CDN_TIMESTAMP_FAILING_CHECKS} of the last ${CDN_TIMESTAMP_FAILING_OF} ${CHECK_EVERY_MINUTES}-minute periods. ` +
        "Agents may be unable to poll; the function's log says why. Expected on a first deploy until the global stack exists and the first release is published.",
      metric: this.timestampCheck.failed,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: CDN_TIMESTAMP_FAILING_OF,
      datapointsToAlarm: CDN_TIMESTAMP_FAILING_CHECKS,
      // Every run reports 0 or 1: no data means no run (a disabled rule, a crash at start, a lost permission).
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    this.alarms = alarms;

    // --- Dashboard ---------------------------------------------------------------------------
    const lambdaMetric = (functionId: string, metric: 'metricInvocations' | 'metricErrors' | 'metricThrottles', label: string) =>
      fn(functionId).function[metric]({ period: FIVE_MINUTES, statistic: 'Sum', label });
    const scheduledIds = functions.filter((d) => api.schedules.has(d.id)).map((d) => d.id);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `Signet-${this.region}`,
      defaultInterval: Duration.hours(24),
      widgets: [
        [
          new cloudwatch.TextWidget({
            width: 24,
            height: 2,
            markdown:
              `# Signet, ${this.region}\n` +
              'Fleet version distribution per product: `signet fleet <product>` (the service\'s per-version counters, not a CloudWatch metric). ' +
              `Alarms notify the SNS topic in output AlarmTopicArn of ${this.stackName}.`,
          }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'API requests and errors', width: 8, left: [requests], right: [clientErrors, serverErrors] }),
          new cloudwatch.GraphWidget({
            title: 'API latency (ms)',
            width: 8,
            left: [
              api.api.metricLatency({ period: FIVE_MINUTES, statistic: 'p50', label: 'latency p50' }),
              latencyP99,
              api.api.metricIntegrationLatency({ period: FIVE_MINUTES, statistic: 'p99', label: 'integration latency p99' }),
            ],
            leftAnnotations: [{ value: config.monitoring.apiLatencyP99Ms, label: 'p99 alarm' }],
          }),
          new cloudwatch.GraphWidget({
            title: 'API 5xx rate (%)',
            width: 8,
            left: [errorRate],
            leftAnnotations: [{ value: config.monitoring.api5xxPercent, label: '5xx alarm' }],
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Agents: manifests, registrations, reports',
            width: 8,
            left: [lambdaMetric('manifest', 'metricInvocations', 'manifest invocations'), registrations, lambdaMetric('reports', 'metricInvocations', 'reports invocations')],
          }),
          new cloudwatch.GraphWidget({
            title: 'Lambda errors',
            width: 8,
            left: functions.map((d) => lambdaMetric(d.id, 'metricErrors', d.id)),
          }),
          new cloudwatch.GraphWidget({
            title: 'Lambda throttles',
            width: 8,
            left: functions.map((d) => lambdaMetric(d.id, 'metricThrottles', d.id)),
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'DynamoDB consumed capacity',
            width: 12,
            left: tables.flatMap((t) => [tableMetric(t, 'ConsumedReadCapacityUnits', undefined, `${t.id} read units`), tableMetric(t, 'ConsumedWriteCapacityUnits', undefined, `${t.id} write units`)]),
          }),
          new cloudwatch.GraphWidget({ title: 'DynamoDB throttle events', width: 12, left: [...throttleExpressions.values()] }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: scheduledIds.length > 0 ? `Scheduled: ${scheduledIds.join(', ')}` : 'Scheduled functions (primary region only)',
            width: 12,
            left: scheduledIds.flatMap((id) => [lambdaMetric(id, 'metricInvocations', `${id} invocations`), lambdaMetric(id, 'metricErrors', `${id} errors`)]),
          }),
          new cloudwatch.GraphWidget({ title: 'Rollouts halted by their failure rate', width: 12, left: [autoHalts] }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'timestamp.json through the CDN: hours left',
            width: 12,
            left: [this.timestampCheck.hoursLeft],
            leftAnnotations: [{ value: thresholdHours, label: `expiry alarm (${STALE_REFRESH_PERIODS} missed refreshes of ${refreshHours} h)` }],
          }),
          new cloudwatch.GraphWidget({ title: 'timestamp.json check failures', width: 12, left: [this.timestampCheck.failed] }),
        ],
        [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', width: 24, alarms: [...alarms.values()] })],
      ],
    });

    new CfnOutput(this, 'AlarmTopicArn', { value: this.topic.topicArn, description: `Subscribe to receive Signet's alarms in ${this.region}` });
    new CfnOutput(this, 'DashboardName', { value: this.dashboard.dashboardName });
  }

  /**
   * Lets an AWS service publish to the encrypted topic for `sourceArns` of this account
   * only: `sns:Publish` in the topic policy (enforceSSL's deny replaces SNS's default
   * policy, which is what let services in) and the key use SNS needs on the service's
   * behalf (kms:Decrypt, kms:GenerateDataKey) in the key policy.
   */
  private letPublish(service: string, sid: string, sourceArns: string): void {
    const conditions = { StringEquals: { 'aws:SourceAccount': this.account }, ArnLike: { 'aws:SourceArn': sourceArns } };
    const principals = [new iam.ServicePrincipal(service)];
    this.topicKey.addToResourcePolicy(new iam.PolicyStatement({ sid: `${sid}PublishEncrypted`, principals, actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: ['*'], conditions }));
    this.topic.addToResourcePolicy(new iam.PolicyStatement({ sid: `${sid}Publish`, principals, actions: ['sns:Publish'], resources: [this.topic.topicArn], conditions }));
  }

  /**
   * The account's monthly cost (every service, unblended, as AWS Budgets counts it by
   * default) against `amountUsd`: the topic hears of 80% actually spent and of 100%
   * forecast for the month (docs/cdk.md, "Cost budget").
   */
  private monthlyCostBudget(amountUsd: number): budgets.CfnBudget {
    // Budgets' ARNs have no region: arn:aws:budgets::<account>:budget/<name>.
    this.letPublish('budgets.amazonaws.com', 'Budgets', this.formatArn({ service: 'budgets', region: '', resource: '*', arnFormat: ArnFormat.NO_RESOURCE_NAME }));
    const notify = (notificationType: 'ACTUAL' | 'FORECASTED', threshold: number): budgets.CfnBudget.NotificationWithSubscribersProperty => ({
      notification: { notificationType, comparisonOperator: 'GREATER_THAN', threshold, thresholdType: 'PERCENTAGE' },
      subscribers: [{ subscriptionType: 'SNS', address: this.topic.topicArn }],
    });
    const budget = new budgets.CfnBudget(this, 'MonthlyCostBudget', {
      budget: {
        budgetName: BUDGET_NAME,
        budgetType: 'COST',
        timeUnit: 'MONTHLY',
        budgetLimit: { amount: amountUsd, unit: 'USD' },
      },
      notificationsWithSubscribers: [notify('ACTUAL', BUDGET_ACTUAL_PERCENT), notify('FORECASTED', BUDGET_FORECAST_PERCENT)],
    });
    // Budgets checks it may publish when the budget is created: the policies come first.
    budget.node.addDependency(this.topic);
    return budget;
  }
}
