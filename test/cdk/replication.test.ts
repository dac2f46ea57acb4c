/**
 * Replica regions' storage (docs/cdk.md, "Replication"): S3 replication of the primary
 * bucket, origin failover in CloudFront, the replica promoter and the replication alarms,
 * with the three-region configuration CI synthesizes; and that a single-region deployment
 * has none of it.
 */
import type { Stack } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replicaViewPrefix, replicatedPrefixes, timestampKey } from '#lib/definitions/bucket.ts';
import { logMetrics } from '#lib/log.ts';
import { replicationRuleId } from '../../cdk/constructs/bucket-replication.ts';
import { REPLICA_VIEW_WAITING_ALARM_SECONDS } from '../../cdk/constructs/replication-alarms.ts';
import { FAILOVER_STATUS_CODES } from '../../cdk/stacks/global-stack.ts';
import type { CfnTemplate, PolicyStatementJson, SynthesizedApp } from './support.ts';
import { onlyResource, policyStatements, resourcesOfType, synthSignet, withReplicas } from './support.ts';

const PRIMARY = 'eu-west-1';
const REPLICAS = ['us-east-1', 'ap-southeast-1'] as const;

let synth: SynthesizedApp;
let single: SynthesizedApp;

beforeAll(() => {
  synth = synthSignet({ signet: withReplicas([...REPLICAS]) });
  single = synthSignet();
});
afterAll(() => {
  synth?.dispose();
  single?.dispose();
});

function regional(app: SynthesizedApp, region: string) {
  const found = app.stacks.regions.find((r) => r.region === region);
  if (!found) throw new Error(`no stacks in ${region}`);
  return found;
}

function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as never);
}

function signatureBucket(app: SynthesizedApp, region: string): { json: CfnTemplate; id: string; properties: Record<string, unknown> } {
  const { storage } = regional(app, region);
  const json = app.json(storage);
  const id = logicalId(storage, storage.bucket);
  return { json, id, properties: json.Resources[id]?.Properties ?? {} };
}

/** The weak reference the primary's storage holds to a replica storage stack's bucket ARN. */
function replicaBucketArn(region: string) {
  return { 'Fn::GetStackOutput': { StackName: `Signet-Storage-${region}`, Region: region, OutputName: expect.stringMatching(/SignatureBucket.*Arn/) } };
}

function statementsOfRole(stack: Stack, json: CfnTemplate, role: { node: { findChild(id: string): { node: { defaultChild?: unknown } } } }): PolicyStatementJson[] {
  return policyStatements(json, logicalId(stack, role.node.findChild('DefaultPolicy')));
}

describe('S3 replication from the primary bucket', () => {
  interface Rule {
    Id: string;
    Priority: number;
    Status: string;
    Filter: { Prefix: string };
    DeleteMarkerReplication: { Status: string };
    Destination: { Bucket: unknown; ReplicationTime: unknown; Metrics: unknown };
  }
  const rules = () => (signatureBucket(synth, PRIMARY).properties.ReplicationConfiguration as { Rules: Rule[]; Role: unknown }).Rules;

  it('replicates every replicated prefix to each replica bucket, with S3 RTC (15 minutes) and its metrics, and no delete markers', () => {
    const expected = REPLICAS.flatMap((region) =>
      replicatedPrefixes.map((prefix) => ({
        Id: replicationRuleId(region, prefix),
        Priority: expect.any(Number),
        Status: 'Enabled',
        Filter: { Prefix: prefix },
        DeleteMarkerReplication: { Status: 'Disabled' },
        Destination: {
          Bucket: replicaBucketArn(region),
          ReplicationTime: { Status: 'Enabled', Time: { Minutes: 15 } },
          Metrics: { Status: 'Enabled', EventThreshold: { Minutes: 15 } },
        },
      })),
    );
    expect(rules()).toEqual(expected);
    expect(new Set(rules().map((r) => r.Priority)).size).toBe(rules().length);
  });

  it('never replicates the served timestamp.json, and replicates the versioned metadata, targets and replica views', () => {
    const prefixes = rules().map((r) => r.Filter.Prefix);
    expect(prefixes.filter((prefix) => timestampKey.startsWith(prefix))).toEqual([]);
    for (const key of ['metadata/1.root.json', 'metadata/12.targets.json', 'metadata/907.snapshot.json', 'targets/p/abc/abc.main.sig', `${replicaViewPrefix}42.json`]) {
      expect(prefixes.some((prefix) => key.startsWith(prefix)), key).toBe(true);
    }
    expect(prefixes.some((prefix) => 'staging/x.snapshot.json'.startsWith(prefix))).toBe(false);
  });

  it('replicates with a role only S3 of this account assumes, reading the replicated prefixes of the primary and writing them to the two replicas, no delete', () => {
    const { storage } = regional(synth, PRIMARY);
    const json = synth.json(storage);
    const replication = storage.replication;
    if (!replication) throw new Error('the primary storage does not replicate');
    const roleId = logicalId(storage, replication.role);
    expect((signatureBucket(synth, PRIMARY).properties.ReplicationConfiguration as { Role: unknown }).Role).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
    expect(json.Resources[roleId]?.Properties?.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { Service: 's3.amazonaws.com' }, Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } } }],
    });

    const bucketId = signatureBucket(synth, PRIMARY).id;
    const sourceObjects = replicatedPrefixes.map((prefix) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/${prefix}*`]] }));
    // The replica bucket ARNs as weak references, their output names normalized so resources can be sorted and compared.
    const replicaArn = (region: string) => ({ 'Fn::GetStackOutput': { StackName: `Signet-Storage-${region}`, Region: region, OutputName: 'SignatureBucketArn' } });
    const replicaObjects = REPLICAS.flatMap((region) => replicatedPrefixes.map((prefix) => ({ 'Fn::Join': ['', [replicaArn(region), `/${prefix}*`]] })));
    const sorted = (statements: readonly PolicyStatementJson[]) =>
      statements.map((st) => ({
        ...st,
        Action: [st.Action].flat().sort(),
        Resource: [st.Resource]
          .flat()
          .map((r) => JSON.stringify(r).replace(/"OutputName":"PublishOutputFnGetAttSignatureBucket[A-F0-9]{8}Arn[A-F0-9]{8}"/, '"OutputName":"SignatureBucketArn"'))
          .sort(),
      }));
    expect(sorted(statementsOfRole(storage, json, replication.role))).toEqual(sorted([
      { Sid: 'ReadReplicationConfiguration', Effect: 'Allow', Action: ['s3:GetReplicationConfiguration', 's3:ListBucket'], Resource: { 'Fn::GetAtt': [bucketId, 'Arn'] } },
      { Sid: 'ReadReplicatedVersions', Effect: 'Allow', Action: ['s3:GetObjectVersionForReplication', 's3:GetObjectVersionAcl', 's3:GetObjectVersionTagging'], Resource: sourceObjects },
      { Sid: 'WriteReplicas', Effect: 'Allow', Action: ['s3:ReplicateObject', 's3:ReplicateTags'], Resource: replicaObjects },
    ]));
  });

  it('leaves the replica buckets private like the primary: versioned, public access blocked, TLS only, CloudFront (OAC) reading the published prefixes only', () => {
    const primary = signatureBucket(synth, PRIMARY);
    for (const region of REPLICAS) {
      const replica = signatureBucket(synth, region);
      const { ReplicationConfiguration: _only, ...primaryRest } = primary.properties;
      expect(replica.properties.ReplicationConfiguration, region).toBeUndefined();
      // The same bucket definition in every region: the same settings, lifecycle (replica views expire) included.
      expect(JSON.stringify(replica.properties).replace(/AccessLogBucket[A-F0-9]{8}/g, 'LOG')).toEqual(JSON.stringify(primaryRest).replace(/AccessLogBucket[A-F0-9]{8}/g, 'LOG'));
      const [, policy] = resourcesOfType(replica.json, 'AWS::S3::BucketPolicy').find(([, p]) => JSON.stringify(p.Properties?.Bucket).includes(replica.id)) ?? [];
      const statements = (policy?.Properties as { PolicyDocument: { Statement: PolicyStatementJson[] } }).PolicyDocument.Statement;
      expect(statements.map((s) => [s.Effect, s.Action])).toEqual([
        ['Deny', 's3:*'],
        ['Allow', 's3:GetObject'],
      ]);
    }
    expect(JSON.stringify(primary.properties.LifecycleConfiguration)).toContain(replicaViewPrefix);
  });

  it('deploys the replica storage stacks before the primary one (a destination must exist, versioned)', () => {
    const { storage } = regional(synth, PRIMARY);
    expect(storage.dependencies.map((s) => s.stackName).sort()).toEqual(REPLICAS.map((r) => `Signet-Storage-${r}`).sort());
  });

  it('does not replicate a single-region deployment', () => {
    expect(signatureBucket(single, PRIMARY).properties.ReplicationConfiguration).toBeUndefined();
    expect(regional(single, PRIMARY).storage.replication).toBeUndefined();
  });
});

describe('replica views: written in the primary region only', () => {
  const writers = ['releases', 'timestampRefresh', 'mirrors'];

  function writerOf(app: SynthesizedApp, region: string, id: string) {
    const found = maybeWriterOf(app, region, id);
    if (!found) throw new Error(`no ${id} in ${region}`);
    return found;
  }

  /** Undefined where the function is not deployed (the primary-only ones in a replica region). */
  function maybeWriterOf(app: SynthesizedApp, region: string, id: string) {
    const { api } = regional(app, region);
    const fn = api.functions.get(id);
    if (!fn) return undefined;
    const json = app.json(api);
    const env = (json.Resources[logicalId(api, fn.function)]?.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables;
    return { env, statements: statementsOfRole(api, json, fn.role) };
  }

  it('tells the primary region\'s timestamp writers to write views, and lets them put under replication/views/ only there', () => {
    for (const id of writers) {
      const primary = writerOf(synth, PRIMARY, id);
      expect(primary.env.SIGNET_REPLICA_VIEWS, id).toBe('true');
      expect(primary.statements.find((s) => s.Sid === 'SignetReplicaViewsWrite'), id).toMatchObject({ Action: 's3:PutObject', Resource: { 'Fn::Join': ['', [expect.anything(), `/${replicaViewPrefix}*`]] } });
      for (const region of REPLICAS) {
        const replica = maybeWriterOf(synth, region, id);
        if (!replica) continue;
        expect(replica.env.SIGNET_REPLICA_VIEWS, `${id} in ${region}`).toBe('false');
        expect(replica.statements.some((s) => s.Sid === 'SignetReplicaViewsWrite'), `${id} in ${region}`).toBe(false);
      }
      const alone = writerOf(single, PRIMARY, id);
      expect(alone.env.SIGNET_REPLICA_VIEWS, id).toBe('false');
      expect(alone.statements.some((s) => s.Sid === 'SignetReplicaViewsWrite'), id).toBe(false);
    }
  });
});

describe('the replica promoter', () => {
  function promoterOf(region: string) {
    const { storage } = regional(synth, region);
    const promoter = storage.promoter;
    if (!promoter) throw new Error(`no promoter in ${region}`);
    return { storage, promoter, json: synth.json(storage) };
  }

  it('runs every minute in each replica region, and nowhere else', () => {
    for (const region of REPLICAS) {
      const { json, promoter, storage } = promoterOf(region);
      const [, rule] = onlyResource(json, 'AWS::Events::Rule');
      expect(rule.Properties).toMatchObject({ ScheduleExpression: 'rate(1 minute)', State: 'ENABLED' });
      expect(JSON.stringify(rule.Properties?.Targets)).toContain(logicalId(storage, promoter.fn.function));
    }
    expect(regional(synth, PRIMARY).storage.promoter).toBeUndefined();
    expect(resourcesOfType(synth.json(regional(synth, PRIMARY).storage), 'AWS::Lambda::Function')).toEqual([]);
    expect(resourcesOfType(single.json(regional(single, PRIMARY).storage), 'AWS::Lambda::Function')).toEqual([]);
  });

  it('may list its bucket, read metadata and replica views, and write metadata/timestamp.json alone: nothing else', () => {
    for (const region of REPLICAS) {
      const { storage, promoter, json } = promoterOf(region);
      const bucketArn = { 'Fn::GetAtt': [logicalId(storage, storage.bucket), 'Arn'] };
      const statements = statementsOfRole(storage, json, promoter.fn.role).filter((s) => !String(s.Action).startsWith('logs:'));
      expect(statements).toEqual([
        { Sid: 'ReplicaListArrived', Effect: 'Allow', Action: 's3:ListBucket', Resource: bucketArn },
        { Sid: 'ReplicaReadViews', Effect: 'Allow', Action: 's3:GetObject', Resource: ['metadata/*', `${replicaViewPrefix}*`].map((p) => ({ 'Fn::Join': ['', [bucketArn, `/${p}`]] })) },
        { Sid: 'ReplicaServeTimestamp', Effect: 'Allow', Action: 's3:PutObject', Resource: { 'Fn::Join': ['', [bucketArn, `/${timestampKey}`]] } },
      ]);
      const env = (json.Resources[logicalId(storage, promoter.fn.function)]?.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables;
      expect(Object.keys(env).sort()).toEqual(['NODE_OPTIONS', 'SIGNET_BUCKET']);
    }
  });
});

describe('origin failover', () => {
  interface Origin { Id: string; DomainName: unknown; OriginAccessControlId?: unknown; S3OriginConfig?: unknown }
  interface DistributionConfig {
    Origins: Origin[];
    OriginGroups?: { Quantity: number; Items: Array<{ Id: string; FailoverCriteria: { StatusCodes: { Items: number[] } }; Members: { Items: Array<{ OriginId: string }> } }> };
    DefaultCacheBehavior: { TargetOriginId: string };
    CacheBehaviors: Array<{ PathPattern: string; TargetOriginId: string }>;
  }
  const config = (app: SynthesizedApp) =>
    (onlyResource(app.json(app.stacks.global), 'AWS::CloudFront::Distribution')[1].Properties as { DistributionConfig: DistributionConfig }).DistributionConfig;

  it('serves /metadata/*, /targets/* and the default behaviour from an origin group: the primary bucket first, the first replica region\'s on 5xx', () => {
    const distribution = config(synth);
    const [group, ...others] = distribution.OriginGroups?.Items ?? [];
    expect(others).toEqual([]);
    expect(group?.FailoverCriteria.StatusCodes.Items).toEqual([...FAILOVER_STATUS_CODES]);
    const [first, second] = (group?.Members.Items ?? []).map((m) => distribution.Origins.find((o) => o.Id === m.OriginId));
    expect(JSON.stringify(first?.DomainName)).toContain(`Signet-Storage-${PRIMARY}`);
    expect(JSON.stringify(second?.DomainName)).toContain(`Signet-Storage-${REPLICAS[0]}`);
    expect(JSON.stringify(second?.DomainName)).toContain(`.s3.${REPLICAS[0]}.`);
    // OAC on both, the same one, and no legacy origin access identity.
    expect(first?.OriginAccessControlId).toBeDefined();
    expect(second?.OriginAccessControlId).toEqual(first?.OriginAccessControlId);
    expect(first?.S3OriginConfig).toEqual({ OriginAccessIdentity: '' });
    for (const pattern of ['/metadata/*', '/targets/*']) expect(distribution.CacheBehaviors.find((b) => b.PathPattern === pattern)?.TargetOriginId, pattern).toBe(group?.Id);
    expect(distribution.DefaultCacheBehavior.TargetOriginId).toBe(group?.Id);
    expect(distribution.CacheBehaviors.find((b) => b.PathPattern === '/v1/*')?.TargetOriginId).not.toBe(group?.Id);
  });

  it('keeps a single bucket origin without replica regions', () => {
    const distribution = config(single);
    expect(distribution.OriginGroups).toBeUndefined();
    expect(distribution.Origins.filter((o) => o.OriginAccessControlId !== undefined)).toHaveLength(1);
  });
});

describe('replication alarms', () => {
  interface AlarmJson {
    AlarmName: string;
    AlarmActions: unknown[];
    ComparisonOperator: string;
    Threshold: number;
    TreatMissingData: string;
    Metrics?: Array<{ Id: string; Expression?: string; MetricStat?: { Metric: { MetricName: string; Namespace: string; Dimensions: Array<{ Name: string; Value: unknown }> } } }>;
    MetricName?: string;
    Namespace?: string;
  }
  function alarms(stack: Stack, app = synth): AlarmJson[] {
    return resourcesOfType(app.json(stack), 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties as unknown as AlarmJson);
  }

  it('alarms in the primary region, on its alarm topic, when replication to either replica takes longer than RTC\'s 15 minutes', () => {
    const { monitoring } = regional(synth, PRIMARY);
    const topicRef = { Ref: logicalId(monitoring, monitoring.topic) };
    for (const region of REPLICAS) {
      const alarm = alarms(monitoring).find((a) => a.AlarmName === `Signet-${PRIMARY}-replication-latency-${region}`);
      expect(alarm, region).toBeDefined();
      expect(alarm?.Threshold).toBe(900);
      expect(alarm?.AlarmActions).toEqual([topicRef]);
      expect(alarm?.TreatMissingData).toBe('notBreaching');
      const stats = (alarm?.Metrics ?? []).flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric] : []));
      expect(stats.map((m) => [m.Namespace, m.MetricName])).toEqual([
        ['AWS/S3', 'ReplicationLatency'],
        ['AWS/S3', 'ReplicationLatency'],
      ]);
      const ruleIds = stats.map((m) => m.Dimensions.find((d) => d.Name === 'RuleId')?.Value);
      expect(ruleIds).toEqual([replicationRuleId(region, 'targets/'), replicationRuleId(region, replicaViewPrefix)]);
      for (const m of stats) expect(JSON.stringify(m.Dimensions.find((d) => d.Name === 'DestinationBucket')?.Value)).toContain(`Signet-Storage-${region}`);
    }
    expect(alarms(regional(single, PRIMARY).monitoring, single).filter((a) => /replication-latency|replica-view-waiting/.test(a.AlarmName))).toEqual([]);
  });

  it('alarms in each replica region when a newer view has waited over 30 minutes, or the promoter stops logging', () => {
    for (const region of REPLICAS) {
      const { monitoring, storage } = regional(synth, region);
      const alarm = alarms(monitoring).find((a) => a.AlarmName === `Signet-${region}-replica-view-waiting`);
      expect(alarm).toMatchObject({ Threshold: REPLICA_VIEW_WAITING_ALARM_SECONDS, TreatMissingData: 'breaching', ComparisonOperator: 'GreaterThanThreshold' });
      const metric = alarm?.Metrics?.find((m) => m.MetricStat)?.MetricStat?.Metric;
      expect(metric).toMatchObject({ MetricName: logMetrics.replicaViewWaiting, Namespace: logMetrics.namespace });
      expect(alarm?.AlarmActions).toEqual([{ Ref: logicalId(monitoring, monitoring.topic) }]);
      const [, filter] = onlyResource(
        { Resources: Object.fromEntries(resourcesOfType(synth.json(monitoring), 'AWS::Logs::MetricFilter').filter(([, f]) => JSON.stringify(f).includes(logMetrics.replicaViewWaiting))) },
        'AWS::Logs::MetricFilter',
      );
      expect(filter.Properties).toMatchObject({ FilterPattern: '{ $.message = "replica view checked" }', MetricTransformations: [{ MetricValue: '$.waitingSeconds' }] });
      expect(JSON.stringify(filter.Properties?.LogGroupName)).toContain(`Signet-Storage-${region}`);
      expect(storage.promoter).toBeDefined();
    }
  });
});
