/**
 * S3 replication of the primary region's signature bucket to each replica region's, so a
 * replica bucket can serve agents when CloudFront fails over to it (docs/cdk.md,
 * "Replication"). What is replicated is `replicatedPrefixes` (lib/definitions/bucket.ts):
 * everything but the one mutable key, `metadata/timestamp.json`, which each replica's
 * promoter writes from a replica view once all it names has arrived (lib/releases/replication.ts).
 */
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { replicatedPrefixes } from '#lib/definitions/bucket.ts';
import { acknowledgeWildcardResources } from '../nag.ts';

/**
 * S3 Replication Time Control: 99.99% of objects within 15 minutes (AWS's SLA; most within
 * seconds), replication metrics per rule, and an event when an object takes longer.
 */
export const REPLICATION_TIME_MINUTES = 15;

/** Buckets whose repository writers also write replica views: the primary's, when replicas exist. */
const viewSources = new WeakSet<s3.IBucket>();

export function markReplicaViewSource(bucket: s3.IBucket): void {
  viewSources.add(bucket);
}

/** Whether functions writing timestamp.json into `bucket` must also write replica views. */
export function writesReplicaViews(bucket: s3.IBucket): boolean {
  return viewSources.has(bucket);
}

export interface ReplicaDestination {
  readonly region: string;
  readonly bucket: s3.IBucket;
}

/** The rule that replicates `prefix` to the bucket in `region`: also the `RuleId` dimension of its metrics. */
export function replicationRuleId(region: string, prefix: string): string {
  return `${region}-${prefix.replace(/[^A-Za-z0-9]+/g, '-').replace(/-$/, '')}`;
}

export interface BucketReplicationProps {
  readonly source: s3.Bucket;
  readonly destinations: readonly ReplicaDestination[];
}

export class BucketReplication extends Construct {
  /** Assumed by S3 to replicate: reads the replicated prefixes of the source, writes them to the destinations. */
  readonly role: iam.Role;
  readonly destinations: readonly ReplicaDestination[];

  constructor(scope: Construct, id: string, props: BucketReplicationProps) {
    super(scope, id);
    const { source, destinations } = props;
    if (destinations.length === 0) throw new Error(`${this.node.path}: replication needs at least one destination`);
    this.destinations = destinations;
    const stack = Stack.of(this);

    this.role = new iam.Role(this, 'Role', {
      description: 'Signet: S3 replicates the signature bucket to the replica regions',
      // Only for this account's buckets (confused deputy). Not the bucket's ARN: the bucket
      // names this role, so the role naming the bucket would be a cycle; the policy below
      // names it instead.
      assumedBy: new iam.ServicePrincipal('s3.amazonaws.com').withConditions({ StringEquals: { 'aws:SourceAccount': stack.account } }),
    });
    const objects = (bucket: s3.IBucket) => replicatedPrefixes.map((prefix) => bucket.arnForObjects(`${prefix}*`));
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadReplicationConfiguration', actions: ['s3:GetReplicationConfiguration', 's3:ListBucket'], resources: [source.bucketArn] }));
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadReplicatedVersions',
        actions: ['s3:GetObjectVersionForReplication', 's3:GetObjectVersionAcl', 's3:GetObjectVersionTagging'],
        resources: objects(source),
      }),
    );
    // No s3:ReplicateDelete: delete markers are not replicated (DeleteMarkerReplication below).
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'WriteReplicas', actions: ['s3:ReplicateObject', 's3:ReplicateTags'], resources: destinations.flatMap((d) => objects(d.bucket)) }),
    );
    const policy = this.role.node.tryFindChild('DefaultPolicy');
    if (policy instanceof iam.Policy) {
      acknowledgeWildcardResources(
        policy,
        (_resource, statement) => statement.Sid === 'ReadReplicatedVersions' || statement.Sid === 'WriteReplicas',
        `object-level replication permissions need object ARN patterns; limited to the replicated prefixes (${replicatedPrefixes.join(', ')}) ` +
          'of the signature bucket and of each replica region\'s signature bucket; no delete',
      );
    }

    let priority = 0;
    const rules: s3.CfnBucket.ReplicationRuleProperty[] = destinations.flatMap((destination) =>
      replicatedPrefixes.map((prefix) => ({
        id: replicationRuleId(destination.region, prefix),
        priority: priority++,
        status: 'Enabled',
        filter: { prefix },
        // A delete in the primary (an operator's mistake; lifecycle expiry is never
        // replicated anyway) must not take an object from the replicas that are there for
        // the day the primary is in trouble. Everything replicated is immutable: nothing
        // is ever deleted on purpose.
        deleteMarkerReplication: { status: 'Disabled' },
        destination: {
          bucket: destination.bucket.bucketArn,
          replicationTime: { status: 'Enabled', time: { minutes: REPLICATION_TIME_MINUTES } },
          metrics: { status: 'Enabled', eventThreshold: { minutes: REPLICATION_TIME_MINUTES } },
        },
      })),
    );
    (source.node.defaultChild as s3.CfnBucket).replicationConfiguration = { role: this.role.roleArn, rules };
  }
}
