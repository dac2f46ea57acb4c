import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functions, routeKey, routes } from '#lib/definitions/routes.ts';
import { mainTable, tables } from '#lib/definitions/tables.ts';
import { EXPIRY_WARNING_DAYS } from '#lib/releases/expiry.ts';
import { BUDGET_NAME, REGISTRATION_ROUTE_KEY, REPOSITORY_FUNCTION_ID, STALLED_PERIODS } from '../../cdk/stacks/monitoring-stack.ts';
import { variables } from '#lib/config.ts';
import { timestampCheck } from '#lib/definitions/checks.ts';
import { CHECK_EVERY_MINUTES, timestampCheckMetrics } from '#lib/monitoring/timestamp-check.ts';
import { DEFAULT_MONTHLY_BUDGET_USD, DEFAULT_TIMESTAMP_REFRESH_MINUTES } from '../../cdk/config.ts';
import { logMessages, logMetrics } from '#lib/log.ts';

const AUTO_HALT_LOG_MESSAGE = logMessages.autoHalt;
const METRIC_NAMESPACE = logMetrics.namespace;
import type { MonitoringStack } from '../../cdk/stacks/monitoring-stack.ts';
import type { CfnResourceJson, CfnTemplate, SynthesizedApp } from './support.ts';
import { onlyResource, resourcesOfType, synthSignet, withReplicas } from './support.ts';

interface MetricStat {
  Metric: { Namespace: string; MetricName: string; Dimensions?: Array<{ Name: string; Value: unknown }> };
  Period: number;
  Stat: string;
}
interface AlarmMetric {
  Id: string;
  Expression?: string;
  MetricStat?: MetricStat;
  ReturnData?: boolean;
}
interface AlarmProps {
  AlarmName: string;
  AlarmActions: unknown[];
  OKActions: unknown[];
  ActionsEnabled: boolean;
  ComparisonOperator: string;
  Threshold: number;
  EvaluationPeriods: number;
  DatapointsToAlarm?: number;
  TreatMissingData: string;
  Metrics?: AlarmMetric[];
  Namespace?: string;
  MetricName?: string;
  Dimensions?: Array<{ Name: string; Value: unknown }>;
  Period?: number;
  Statistic?: string;
  ExtendedStatistic?: string;
}

let synth: SynthesizedApp;
let monitoring: MonitoringStack;
let json: CfnTemplate;

beforeAll(() => {
  synth = synthSignet();
  const primary = synth.stacks.regions[0];
  if (!primary) throw new Error('no primary region');
  monitoring = primary.monitoring;
  json = synth.json(monitoring);
});
afterAll(() => synth?.dispose());

function alarm(key: string): AlarmProps {
  const found = resourcesOfType(json, 'AWS::CloudWatch::Alarm').find(([, a]) => (a.Properties as unknown as AlarmProps).AlarmName === `Signet-eu-west-1-${key}`);
  if (!found) throw new Error(`no alarm ${key}`);
  return found[1].Properties as unknown as AlarmProps;
}

/** A weak reference to an output of the primary region's API stack whose name mentions `resource`. */
const apiOutput = (resource: string) => ({
  'Fn::GetStackOutput': { StackName: 'Signet-Api-eu-west-1', Region: 'eu-west-1', OutputName: expect.stringContaining(resource) },
});

/** The single metric an alarm watches, or the named metrics of its expression. */
function metricsOf(props: AlarmProps): Record<string, MetricStat> {
  if (!props.Metrics) {
    return { single: { Metric: { Namespace: props.Namespace ?? '', MetricName: props.MetricName ?? '', Dimensions: props.Dimensions }, Period: props.Period ?? 0, Stat: props.Statistic ?? props.ExtendedStatistic ?? '' } };
  }
  const stats = props.Metrics.filter((m) => m.MetricStat);
  // A lone labelled metric renders in the Metrics form too.
  if (!props.Metrics.some((m) => m.Expression) && stats.length === 1) return { single: stats[0]?.MetricStat as MetricStat };
  return Object.fromEntries(stats.map((m) => [m.Id, m.MetricStat as MetricStat]));
}

function expressionOf(props: AlarmProps): string | undefined {
  return props.Metrics?.find((m) => m.ReturnData !== false && m.Expression)?.Expression;
}

/** `Fn::Join` rendered to a string, every unresolved part as `<token>`: the dashboard body, parseable. */
function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join) return join[1].map(flatten).join(join[0]);
  return '<token>';
}

const EXPECTED_ALARMS = [
  'api-5xx-rate',
  'api-latency-p99',
  ...functions.map((f) => `${f.id}-errors`),
  'timestampRefresh-stalled',
  ...tables.map((t) => `${t.id}-throttles`),
  'rollout-auto-halts',
  'metadata-expiring',
  'cdn-timestamp-expiry',
  'cdn-timestamp-check-failing',
].sort();

describe('MonitoringStack: placement', () => {
  it('is Signet-Monitoring-<region>, in that region, after its API and storage stacks, and not termination-protected', () => {
    expect(monitoring.stackName).toBe('Signet-Monitoring-eu-west-1');
    expect(monitoring.region).toBe('eu-west-1');
    const deps = synth.assembly.getStackByName(monitoring.stackName).dependencies.map((d) => d.id);
    expect(deps).toEqual(expect.arrayContaining(['Signet-Api-eu-west-1', 'Signet-Storage-eu-west-1']));
    expect(deps).not.toContain('Signet-Global-us-east-1');
    expect(monitoring.terminationProtection).toBe(false);
  });

  it('holds one function, the timestamp check, with its own role and policy and nothing else to grant', () => {
    expect(resourcesOfType(json, 'AWS::Lambda::Function').map(([, f]) => f.Properties?.Description)).toEqual([expect.stringMatching(/^Signet timestampCheck: /)]);
    expect(resourcesOfType(json, 'AWS::IAM::Role')).toHaveLength(1);
    expect(resourcesOfType(json, 'AWS::IAM::Policy')).toHaveLength(1);
  });
});

describe('MonitoringStack: alarm topic', () => {
  it('is encrypted with a rotating customer managed key of this stack', () => {
    const [topicId, topic] = onlyResource(json, 'AWS::SNS::Topic');
    const [keyId, key] = onlyResource(json, 'AWS::KMS::Key');
    expect(topic.Properties?.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    expect(key.Properties).toMatchObject({ EnableKeyRotation: true, PendingWindowInDays: 7 });
    expect(json.Outputs?.AlarmTopicArn).toMatchObject({ Value: { Ref: topicId } });
  });

  it('refuses publishing without TLS and lets CloudWatch publish only for this account\'s Signet alarms of this region', () => {
    const [topicId] = onlyResource(json, 'AWS::SNS::Topic');
    const [, policy] = onlyResource(json, 'AWS::SNS::TopicPolicy');
    const statements = (policy.Properties as { PolicyDocument: { Statement: Array<Record<string, unknown>> } }).PolicyDocument.Statement;
    // And AWS Budgets, in the primary region ("cost budget" below).
    expect(statements.filter((s) => s.Sid !== 'BudgetsPublish')).toEqual([
      { Sid: 'AllowPublishThroughSSLOnly', Effect: 'Deny', Principal: '*', Action: 'sns:Publish', Resource: { Ref: topicId }, Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
      {
        Sid: 'CloudWatchAlarmsPublish',
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: { Ref: topicId },
        Condition: {
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          ArnLike: { 'aws:SourceArn': { 'Fn::Join': ['', ['arn:aws:cloudwatch:eu-west-1:', { Ref: 'AWS::AccountId' }, ':alarm:Signet-eu-west-1-*']] } },
        },
      },
    ]);
  });

  it('lets CloudWatch use the key for those alarms only, with named actions (no wildcard)', () => {
    const [, key] = onlyResource(json, 'AWS::KMS::Key');
    const statements = (key.Properties?.KeyPolicy as { Statement: Array<Record<string, unknown>> }).Statement;
    const cloudwatch = statements.filter((s) => JSON.stringify(s.Principal).includes('cloudwatch'));
    expect(cloudwatch).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Condition: {
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          ArnLike: { 'aws:SourceArn': { 'Fn::Join': ['', ['arn:aws:cloudwatch:eu-west-1:', { Ref: 'AWS::AccountId' }, ':alarm:Signet-eu-west-1-*']] } },
        },
      }),
    ]);
  });

  it('has no subscription unless signet.monitoring.alarmEmail names one', () => {
    expect(resourcesOfType(json, 'AWS::SNS::Subscription')).toEqual([]);
    const withEmail = synthSignet({ signet: { monitoring: { alarmEmail: 'ops@example.com' } } });
    try {
      const primary = withEmail.stacks.regions[0];
      if (!primary) throw new Error('no primary region');
      const template = withEmail.json(primary.monitoring);
      const [topicId] = onlyResource(template, 'AWS::SNS::Topic');
      expect(resourcesOfType(template, 'AWS::SNS::Subscription').map(([, s]) => s.Properties)).toEqual([
        { Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: { Ref: topicId } },
      ]);
    } finally {
      withEmail.dispose();
    }
  });
});

describe('MonitoringStack: alarms', () => {
  it('has exactly the expected alarms, each named Signet-<region>-<key>, notifying the topic on ALARM and OK', () => {
    const [topicId] = onlyResource(json, 'AWS::SNS::Topic');
    const alarms = resourcesOfType(json, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties as unknown as AlarmProps);
    expect(alarms.map((a) => a.AlarmName.replace(/^Signet-eu-west-1-/, '')).sort()).toEqual(EXPECTED_ALARMS);
    expect([...monitoring.alarms.keys()].sort()).toEqual(EXPECTED_ALARMS);
    for (const a of alarms) {
      expect(a.ActionsEnabled, a.AlarmName).toBe(true);
      expect(a.AlarmActions, a.AlarmName).toEqual([{ Ref: topicId }]);
      expect(a.OKActions, a.AlarmName).toEqual([{ Ref: topicId }]);
    }
  });

  it('watches the HTTP API 5xx rate: 5xx over requests, at least 10 requests, above 5% in 2 of 3 five-minute periods', () => {
    const a = alarm('api-5xx-rate');
    expect(expressionOf(a)).toBe('IF(requests >= 10, 100 * FILL(errors, 0) / requests, 0)');
    const metrics = metricsOf(a);
    expect(metrics.requests).toEqual({ Metric: { Namespace: 'AWS/ApiGateway', MetricName: 'Count', Dimensions: [{ Name: 'ApiId', Value: apiOutput('RefHttpApi') }] }, Period: 300, Stat: 'Sum' });
    expect(metrics.errors).toEqual({ Metric: { Namespace: 'AWS/ApiGateway', MetricName: '5xx', Dimensions: [{ Name: 'ApiId', Value: apiOutput('RefHttpApi') }] }, Period: 300, Stat: 'Sum' });
    expect(a).toMatchObject({ Threshold: 5, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 3, DatapointsToAlarm: 2, TreatMissingData: 'notBreaching' });
  });

  it('watches the HTTP API p99 latency: above 2500 ms for 3 five-minute periods', () => {
    const a = alarm('api-latency-p99');
    expect(metricsOf(a).single).toEqual({ Metric: { Namespace: 'AWS/ApiGateway', MetricName: 'Latency', Dimensions: [{ Name: 'ApiId', Value: apiOutput('RefHttpApi') }] }, Period: 300, Stat: 'p99' });
    expect(a).toMatchObject({ Threshold: 2500, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 3, DatapointsToAlarm: 3 });
  });

  it('takes its thresholds from signet.monitoring', () => {
    const tuned = synthSignet({ signet: { monitoring: { api5xxPercent: 1.5, apiLatencyP99Ms: 800 } } });
    try {
      const template = tuned.json(tuned.stacks.regions[0]?.monitoring as MonitoringStack);
      const props = resourcesOfType(template, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties as unknown as AlarmProps);
      expect(props.find((a) => a.AlarmName.endsWith('api-5xx-rate'))?.Threshold).toBe(1.5);
      expect(props.find((a) => a.AlarmName.endsWith('api-latency-p99'))?.Threshold).toBe(800);
    } finally {
      tuned.dispose();
    }
  });

  it.each(['manifest', 'reports', 'releases', 'timestampRefresh'])('watches the Lambda errors of %s, on its own function', (id) => {
    const a = alarm(`${id}-errors`);
    const { single } = metricsOf(a);
    expect(single?.Metric).toEqual({ Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: apiOutput(`Ref${id}Function`) }] });
    expect(single?.Stat).toBe('Sum');
    expect(a).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching' });
  });

  it('alarms on agent-facing functions after errors in 2 of 3 periods, on the others at the first error', () => {
    for (const definition of functions) {
      const a = alarm(`${definition.id}-errors`);
      const agentFacing = routes.some((r) => r.functionId === definition.id && r.authorization === 'public');
      expect([a.EvaluationPeriods, a.DatapointsToAlarm], definition.id).toEqual(agentFacing ? [3, 2] : [1, 1]);
    }
    expect(routes.some((r) => r.functionId === 'manifest' && r.authorization === 'public')).toBe(true);
    expect(routes.some((r) => r.functionId === 'releases' && r.authorization === 'public')).toBe(false);
  });

  it('watches timestampRefresh errors per schedule period', () => {
    const minutes = DEFAULT_TIMESTAMP_REFRESH_MINUTES;
    expect(metricsOf(alarm('timestampRefresh-errors')).single?.Period).toBe(minutes * 60);
  });

  it('alarms when timestampRefresh has not succeeded for 3 schedule periods, counting no data at all as failure', () => {
    const minutes: number = DEFAULT_TIMESTAMP_REFRESH_MINUTES;
    expect(functions.find((f) => f.id === 'timestampRefresh')?.scheduled).toBe(true);
    // timestamp.json lasts a day: the alarm must leave operators most of it.
    expect(STALLED_PERIODS * minutes).toBeLessThanOrEqual(6 * 60);
    const a = alarm('timestampRefresh-stalled');
    expect(expressionOf(a)).toBe('FILL(invocations, 0) - FILL(errors, 0)');
    const metrics = metricsOf(a);
    for (const [name, metricName] of [['invocations', 'Invocations'], ['errors', 'Errors']] as const) {
      expect(metrics[name]).toEqual({
        Metric: { Namespace: 'AWS/Lambda', MetricName: metricName, Dimensions: [{ Name: 'FunctionName', Value: apiOutput('ReftimestampRefreshFunction') }] },
        Period: minutes * 60,
        Stat: 'Sum',
      });
    }
    expect(a).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: STALLED_PERIODS,
      DatapointsToAlarm: STALLED_PERIODS,
      TreatMissingData: 'breaching',
    });
  });

  it('watches DynamoDB throttling of the table and every index, read and write', () => {
    const a = alarm(`${mainTable.id}-throttles`);
    const metrics = Object.values(metricsOf(a));
    const tableName = { 'Fn::GetStackOutput': { StackName: 'Signet-Storage-eu-west-1', Region: 'eu-west-1', OutputName: expect.stringContaining('RefMain') } };
    const expected = [undefined, ...mainTable.globalSecondaryIndexes.map((i) => i.indexName)].flatMap((index) =>
      ['ReadThrottleEvents', 'WriteThrottleEvents'].map((metricName) => ({
        Metric: {
          Namespace: 'AWS/DynamoDB',
          MetricName: metricName,
          // CloudWatch's dimension order: by name.
          Dimensions: [...(index ? [{ Name: 'GlobalSecondaryIndexName', Value: index }] : []), { Name: 'TableName', Value: tableName }],
        },
        Period: 300,
        Stat: 'Sum',
      })),
    );
    expect(metrics).toEqual(expected);
    expect(expressionOf(a)).toBe(Object.keys(metricsOf(a)).map((id) => `FILL(${id}, 0)`).join(' + '));
    expect(a).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', EvaluationPeriods: 3, DatapointsToAlarm: 2, TreatMissingData: 'notBreaching' });
  });

  it('alarms at the first rollout the service halts by its failure rate', () => {
    const a = alarm('rollout-auto-halts');
    expect(metricsOf(a).single?.Metric).toEqual({ Namespace: METRIC_NAMESPACE, MetricName: 'RolloutAutoHalts' });
    expect(a).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', EvaluationPeriods: 1 });
  });

  it('alarms while the repository function warns of targets or root metadata expiring within 30 days, until 3 schedule periods pass without a warning', () => {
    const a = alarm('metadata-expiring');
    expect(metricsOf(a).single).toEqual({ Metric: { Namespace: METRIC_NAMESPACE, MetricName: 'MetadataExpiringSoon' }, Period: DEFAULT_TIMESTAMP_REFRESH_MINUTES * 60, Stat: 'Sum' });
    expect(a).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', EvaluationPeriods: STALLED_PERIODS, DatapointsToAlarm: 1, TreatMissingData: 'notBreaching' });
    expect(EXPIRY_WARNING_DAYS).toBe(30);
    expect((a as unknown as { AlarmDescription: string }).AlarmDescription).toMatch(/within 30 days.*signet publish.*rotate-root/);
  });
});

describe('MonitoringStack: timestamp.json as agents see it', () => {
  const checkFunction = () => onlyResource(json, 'AWS::Lambda::Function');
  const checkMetric = (metricName: string, stat: string): MetricStat => ({
    Metric: { Namespace: 'Signet', MetricName: metricName, Dimensions: [{ Name: 'service', Value: 'signet-timestamp-check' }] },
    Period: CHECK_EVERY_MINUTES * 60,
    Stat: stat,
  });

  it('runs the check every 5 minutes, and the next run makes up for a missed one', () => {
    const [functionId] = checkFunction();
    const [, rule] = onlyResource(json, 'AWS::Events::Rule');
    expect(CHECK_EVERY_MINUTES).toBe(5);
    expect(rule.Properties).toMatchObject({
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Targets: [{ Arn: { 'Fn::GetAtt': [functionId, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 300 } }],
    });
  });

  it('tells the function where the CDN identity is, and nothing else: the parameter in its own region', () => {
    const [, fn] = checkFunction();
    expect(timestampCheck.variables).toEqual(['cdnParameter', 'cdnParameterRegion']);
    expect((fn.Properties?.Environment as { Variables: Record<string, string> }).Variables).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      [variables.cdnParameter.name]: '/signet/cdn',
      [variables.cdnParameterRegion.name]: 'eu-west-1',
    });
    expect(fn.Properties).toMatchObject({ MemorySize: 256, Timeout: 30, Runtime: 'nodejs22.x', Architectures: ['arm64'] });
  });

  it('lets it read that one parameter and write its own log group; no PutMetricData, no wildcard resource', () => {
    const [, policy] = onlyResource(json, 'AWS::IAM::Policy');
    const statements = (policy.Properties as { PolicyDocument: { Statement: Array<{ Action: string | string[]; Resource: unknown }> } }).PolicyDocument.Statement;
    expect(statements.flatMap((s) => [s.Action].flat()).sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents', 'ssm:GetParameter']);
    expect(statements.find((s) => s.Action === 'ssm:GetParameter')?.Resource).toEqual({
      'Fn::Join': ['', ['arn:aws:ssm:eu-west-1:', { Ref: 'AWS::AccountId' }, ':parameter/signet/cdn']],
    });
    expect(JSON.stringify(statements)).not.toContain('"*"');
  });

  it('alarms when the served timestamp.json has fewer hours left than its expiry less two refresh periods, in 2 checks in a row', () => {
    const a = alarm('cdn-timestamp-expiry');
    expect(metricsOf(a).single).toEqual(checkMetric('CdnTimestampHoursLeft', 'Minimum'));
    // 24 h expiry, hourly refresh: 22 h.
    expect(a).toMatchObject({ Threshold: 22, ComparisonOperator: 'LessThanThreshold', EvaluationPeriods: 2, DatapointsToAlarm: 2, TreatMissingData: 'notBreaching' });
  });

  it('alarms when the check fails or does not run (no data breaches) in 2 of 3 periods', () => {
    const a = alarm('cdn-timestamp-check-failing');
    expect(metricsOf(a).single).toEqual(checkMetric('CdnTimestampCheckFailed', 'Maximum'));
    expect(a).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', EvaluationPeriods: 3, DatapointsToAlarm: 2, TreatMissingData: 'breaching' });
  });

  it('derives the expiry threshold from signet.runtime', () => {
    const tuned = synthSignet({ signet: { runtime: { timestampExpiryHours: 6, timestampRefreshMinutes: 30 } } });
    try {
      const template = tuned.json(tuned.stacks.regions[0]?.monitoring as MonitoringStack);
      const props = resourcesOfType(template, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties as unknown as AlarmProps);
      expect(props.find((a) => a.AlarmName.endsWith('cdn-timestamp-expiry'))?.Threshold).toBe(5);
    } finally {
      tuned.dispose();
    }
  });

  it('shows the hours left against the alarm threshold, and the failures', () => {
    const body = JSON.parse(flatten(onlyResource(json, 'AWS::CloudWatch::Dashboard')[1].Properties?.DashboardBody)) as {
      widgets: Array<{ properties: { title?: string; metrics?: unknown[][]; annotations?: { horizontal?: Array<{ value: number }> } } }>;
    };
    const hours = body.widgets.find((w) => w.properties.title === 'timestamp.json through the CDN: hours left');
    expect(hours?.properties.metrics?.[0]?.slice(0, 2)).toEqual(['Signet', 'CdnTimestampHoursLeft']);
    expect(hours?.properties.annotations?.horizontal?.[0]?.value).toBe(22);
    expect(body.widgets.find((w) => w.properties.title === 'timestamp.json check failures')?.properties.metrics?.[0]?.slice(0, 2)).toEqual(['Signet', 'CdnTimestampCheckFailed']);
  });
});

describe('MonitoringStack: metrics from logs', () => {
  const filters = () => resourcesOfType(json, 'AWS::Logs::MetricFilter').map(([, f]) => f.Properties as Record<string, unknown>);

  it('counts registrations from the API access log, by the route key the access log records', () => {
    expect(routes.map(routeKey)).toContain(REGISTRATION_ROUTE_KEY);
    expect(filters()).toContainEqual({
      FilterPattern: `{ $.routeKey = "${REGISTRATION_ROUTE_KEY}" }`,
      LogGroupName: apiOutput('RefAccessLogs'),
      MetricTransformations: [{ MetricName: 'RegistrationRequests', MetricNamespace: METRIC_NAMESPACE, MetricValue: '1' }],
    });
    // The access log format must carry the field the filter selects.
    const stage = onlyResource(synth.json(synth.stacks.regions[0]?.api as never), 'AWS::ApiGatewayV2::Stage')[1];
    expect(JSON.parse((stage.Properties?.AccessLogSettings as { Format: string }).Format)).toMatchObject({ routeKey: '$context.routeKey' });
  });

  it('counts auto-halts from the reports and mirrors functions\' logs, by the message lib/log.ts defines for them all', () => {
    expect(filters()).toContainEqual({
      FilterPattern: `"${AUTO_HALT_LOG_MESSAGE}"`,
      LogGroupName: apiOutput('RefreportsLogGroup'),
      MetricTransformations: [{ MetricName: 'RolloutAutoHalts', MetricNamespace: METRIC_NAMESPACE, MetricValue: '1' }],
    });
    // Relayed reports halt rollouts in the mirrors function: the same message, into the same metric.
    expect(filters()).toContainEqual({
      FilterPattern: `"${AUTO_HALT_LOG_MESSAGE}"`,
      LogGroupName: apiOutput('RefmirrorsLogGroup'),
      MetricTransformations: [{ MetricName: 'RolloutAutoHalts', MetricNamespace: METRIC_NAMESPACE, MetricValue: '1' }],
    });
  });

  it('counts metadata expiring soon from the repository function\'s log, by the message it warns with', () => {
    expect(functions.find((f) => f.id === REPOSITORY_FUNCTION_ID)?.scheduled).toBe(true);
    expect(filters()).toContainEqual({
      FilterPattern: `"${logMessages.metadataExpiring}"`,
      LogGroupName: apiOutput(`Ref${REPOSITORY_FUNCTION_ID}LogGroup`),
      MetricTransformations: [{ MetricName: 'MetadataExpiringSoon', MetricNamespace: METRIC_NAMESPACE, MetricValue: '1' }],
    });
  });

  it('invents no metric: every metric it uses is AWS\'s own or one of its metric filters\'', () => {
    const filtered = new Set(filters().map((f) => (f.MetricTransformations as Array<{ MetricName: string }>)[0]?.MetricName));
    const used: Array<{ namespace: string; name: string }> = [];
    for (const [, a] of resourcesOfType(json, 'AWS::CloudWatch::Alarm')) {
      for (const stat of Object.values(metricsOf(a.Properties as unknown as AlarmProps))) used.push({ namespace: stat.Metric.Namespace, name: stat.Metric.MetricName });
    }
    const body = JSON.parse(flatten(onlyResource(json, 'AWS::CloudWatch::Dashboard')[1].Properties?.DashboardBody)) as { widgets: Array<{ properties: { metrics?: unknown[][] } }> };
    for (const widget of body.widgets) {
      for (const metric of widget.properties.metrics ?? []) {
        if (typeof metric[0] === 'string' && typeof metric[1] === 'string') used.push({ namespace: metric[0], name: metric[1] });
      }
    }
    expect(used.length).toBeGreaterThan(20);
    // And the two the timestamp check publishes itself (embedded metric format).
    const published = new Set<string>([timestampCheckMetrics.hoursLeft, timestampCheckMetrics.failed]);
    for (const { namespace, name } of used) {
      expect(['AWS/ApiGateway', 'AWS/Lambda', 'AWS/DynamoDB', METRIC_NAMESPACE], `${namespace} ${name}`).toContain(namespace);
      if (namespace === METRIC_NAMESPACE) expect([...filtered, ...published], name).toContain(name);
    }
  });
});

describe('MonitoringStack: dashboard', () => {
  let body: { widgets: Array<{ type: string; properties: { title?: string; markdown?: string; metrics?: unknown[][]; alarms?: unknown[] } }> };
  let dashboard: CfnResourceJson;

  beforeAll(() => {
    dashboard = onlyResource(json, 'AWS::CloudWatch::Dashboard')[1];
    body = JSON.parse(flatten(dashboard.Properties?.DashboardBody)) as typeof body;
  });

  const metricNames = (title: string) => {
    const widget = body.widgets.find((w) => w.properties.title === title);
    if (!widget) throw new Error(`no widget ${title}`);
    return (widget.properties.metrics ?? []).map((m) => m.filter((part) => typeof part === 'string').slice(0, 2).join(' '));
  };

  it('is named Signet-<region>', () => {
    expect(dashboard.Properties?.DashboardName).toBe('Signet-eu-west-1');
  });

  it('shows API requests, 4xx and 5xx, latency p50/p99, and the 5xx rate the alarm watches', () => {
    expect(metricNames('API requests and errors')).toEqual(['AWS/ApiGateway Count', 'AWS/ApiGateway 4xx', 'AWS/ApiGateway 5xx']);
    expect(metricNames('API latency (ms)')).toEqual(['AWS/ApiGateway Latency', 'AWS/ApiGateway Latency', 'AWS/ApiGateway IntegrationLatency']);
    expect(JSON.stringify(body.widgets.find((w) => w.properties.title === 'API 5xx rate (%)'))).toContain('IF(requests >= 10');
  });

  it('shows manifest invocations, registrations and reports', () => {
    expect(metricNames('Agents: manifests, registrations, reports')).toEqual(['AWS/Lambda Invocations', `${METRIC_NAMESPACE} RegistrationRequests`, 'AWS/Lambda Invocations']);
  });

  it('shows errors and throttles of every function', () => {
    expect(metricNames('Lambda errors')).toEqual(functions.map(() => 'AWS/Lambda Errors'));
    expect(metricNames('Lambda throttles')).toEqual(functions.map(() => 'AWS/Lambda Throttles'));
  });

  it('shows DynamoDB consumed capacity and throttles', () => {
    expect(metricNames('DynamoDB consumed capacity')).toEqual(tables.flatMap(() => ['AWS/DynamoDB ConsumedReadCapacityUnits', 'AWS/DynamoDB ConsumedWriteCapacityUnits']));
    expect(JSON.stringify(body.widgets.find((w) => w.properties.title === 'DynamoDB throttle events'))).toContain('ReadThrottleEvents');
  });

  it('shows every alarm\'s state, and points to signet fleet for the version distribution', () => {
    const status = body.widgets.find((w) => w.type === 'alarm');
    expect(status?.properties.alarms).toHaveLength(EXPECTED_ALARMS.length);
    expect(body.widgets.find((w) => w.type === 'text')?.properties.markdown).toContain('signet fleet <product>');
  });
});

describe('MonitoringStack in a replica region', () => {
  let replicated: SynthesizedApp;
  beforeAll(() => {
    replicated = synthSignet({ signet: { ...withReplicas(['eu-central-1']) } });
  });
  afterAll(() => replicated?.dispose());

  it('exists per region, watching that region\'s API and its replica of the tables', () => {
    const replica = replicated.stacks.regions[1];
    if (!replica) throw new Error('no replica region');
    expect(replica.monitoring.stackName).toBe('Signet-Monitoring-eu-central-1');
    expect(replica.monitoring.region).toBe('eu-central-1');
    const template = JSON.stringify(replicated.json(replica.monitoring));
    expect(template).toContain('Signet-Api-eu-central-1');
    expect(template).not.toContain('Signet-Api-eu-west-1');
    expect(template).toContain(':alarm:Signet-eu-central-1-*');
  });

  it('checks timestamp.json through the CDN from this region too, reading the copy of the parameter in this region', () => {
    const replica = replicated.stacks.regions[1];
    expect([...(replica?.monitoring.alarms.keys() ?? [])]).toEqual(expect.arrayContaining(['cdn-timestamp-expiry', 'cdn-timestamp-check-failing']));
    const [, fn] = onlyResource(replicated.json(replica?.monitoring as never), 'AWS::Lambda::Function');
    expect((fn.Properties?.Environment as { Variables: Record<string, string> }).Variables[variables.cdnParameterRegion.name]).toBe('eu-central-1');
  });

  it('has no stall alarm where nothing is scheduled', () => {
    const replica = replicated.stacks.regions[1];
    expect(replica?.api.schedules.size).toBe(0);
    expect([...(replica?.monitoring.alarms.keys() ?? [])]).not.toContain('timestampRefresh-stalled');
    expect([...(replicated.stacks.regions[0]?.monitoring.alarms.keys() ?? [])]).toContain('timestampRefresh-stalled');
    // Nor a metadata-expiry alarm: the refresh that warns runs in the primary region only.
    expect([...(replica?.monitoring.alarms.keys() ?? [])]).not.toContain('metadata-expiring');
    expect(resourcesOfType(replicated.json(replica?.monitoring as never), 'AWS::Logs::MetricFilter').map(([id]) => id).join()).not.toContain('MetadataExpiringSoon');
  });

  it('passes cdk-nag', () => {
    expect(new AwsSolutionsChecks().validateScope(replicated.app).violations).toEqual([]);
  });
});

describe('MonitoringStack: cost budget', () => {
  const budgetsCondition = {
    StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
    ArnLike: { 'aws:SourceArn': { 'Fn::Join': ['', ['arn:aws:budgets::', { Ref: 'AWS::AccountId' }, ':*']] } },
  };

  it('budgets the account\'s monthly cost, notifying the alarm topic at 80% actual and 100% forecast', () => {
    const [topicId] = onlyResource(json, 'AWS::SNS::Topic');
    const [, budget] = onlyResource(json, 'AWS::Budgets::Budget');
    expect(DEFAULT_MONTHLY_BUDGET_USD).toBe(10_000);
    const subscribers = [{ SubscriptionType: 'SNS', Address: { Ref: topicId } }];
    expect(budget.Properties).toMatchObject({
      Budget: { BudgetName: BUDGET_NAME, BudgetType: 'COST', TimeUnit: 'MONTHLY', BudgetLimit: { Amount: 10_000, Unit: 'USD' } },
      NotificationsWithSubscribers: [
        { Notification: { NotificationType: 'ACTUAL', ComparisonOperator: 'GREATER_THAN', Threshold: 80, ThresholdType: 'PERCENTAGE' }, Subscribers: subscribers },
        { Notification: { NotificationType: 'FORECASTED', ComparisonOperator: 'GREATER_THAN', Threshold: 100, ThresholdType: 'PERCENTAGE' }, Subscribers: subscribers },
      ],
    });
    // Created after the topic and its policy, which Budgets checks when it saves the subscriber.
    const [policyId] = onlyResource(json, 'AWS::SNS::TopicPolicy');
    expect(budget.DependsOn).toEqual(expect.arrayContaining([topicId, policyId]));
  });

  it('lets AWS Budgets publish to the topic and use its key for this account\'s budgets only', () => {
    const [topicId] = onlyResource(json, 'AWS::SNS::Topic');
    const [, policy] = onlyResource(json, 'AWS::SNS::TopicPolicy');
    const topicStatements = (policy.Properties as { PolicyDocument: { Statement: Array<Record<string, unknown>> } }).PolicyDocument.Statement;
    expect(topicStatements.filter((s) => JSON.stringify(s.Principal).includes('budgets'))).toEqual([
      { Sid: 'BudgetsPublish', Effect: 'Allow', Principal: { Service: 'budgets.amazonaws.com' }, Action: 'sns:Publish', Resource: { Ref: topicId }, Condition: budgetsCondition },
    ]);
    const [, key] = onlyResource(json, 'AWS::KMS::Key');
    const keyStatements = (key.Properties?.KeyPolicy as { Statement: Array<Record<string, unknown>> }).Statement;
    expect(keyStatements.filter((s) => JSON.stringify(s.Principal).includes('budgets'))).toEqual([
      expect.objectContaining({ Sid: 'BudgetsPublishEncrypted', Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Condition: budgetsCondition }),
    ]);
  });

  it('takes the amount from signet.monitoring.monthlyBudgetUsd, and exists once per account: not in a replica region', () => {
    const other = synthSignet({ signet: { ...withReplicas(['eu-central-1']), monitoring: { monthlyBudgetUsd: 2500 } } });
    try {
      const [primary, replica] = other.stacks.regions;
      if (!primary || !replica) throw new Error('expected two regions');
      const [, budget] = onlyResource(other.json(primary.monitoring), 'AWS::Budgets::Budget');
      expect(budget.Properties).toMatchObject({ Budget: { BudgetLimit: { Amount: 2500, Unit: 'USD' } } });
      const replicaJson = other.json(replica.monitoring);
      expect(resourcesOfType(replicaJson, 'AWS::Budgets::Budget')).toEqual([]);
      expect(JSON.stringify(replicaJson)).not.toContain('budgets.amazonaws.com');
    } finally {
      other.dispose();
    }
  });
});
