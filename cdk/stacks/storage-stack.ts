/**
 * Stateful resources of one region: the signature bucket (with its access-log bucket)
 * and, in the primary region, the DynamoDB tables. Nothing here is replaced by a code
 * change, so the stack is rarely deployed and protected against deletion.
 *
 * With replica regions, the primary's bucket replicates to theirs (`replicateTo`), and each
 * replica region's stack holds the promoter that decides what its bucket serves as
 * timestamp.json: both belong to the bucket they keep consistent (docs/cdk.md, "Replication").
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { pathSpaces, replicaViewExpiryDays, replicaViewPrefix, stagingExpiryDays, stagingPrefix } from '#lib/definitions/bucket.ts';
import type { KeyAttribute, TableDefinition } from '#lib/definitions/tables.ts';
import { tables } from '#lib/definitions/tables.ts';
import type { SignetConfig } from '../config.ts';
import { BucketReplication, markReplicaViewSource } from '../constructs/bucket-replication.ts';
import { ReplicaPromoter } from '../constructs/replica-promoter.ts';

export interface StorageStackProps extends StackProps {
  readonly config: SignetConfig;
  /**
   * The primary region's storage, when this stack serves a replica region: the tables are
   * then that stack's global-table replicas rather than new tables.
   * @default - this is the primary region
   */
  readonly primary?: StorageStack;
}

/** What the stateless stacks are given: typed handles, never names. */
export interface StorageResources {
  readonly bucket: s3.IBucket;
  tableFor(definition: TableDefinition): dynamodb.ITableV2;
  /** The primary's replication to the replica regions' buckets, when there are any. */
  readonly replication?: BucketReplication;
  /** A replica region's promoter of replica views. */
  readonly promoter?: ReplicaPromoter;
}

export class StorageStack extends Stack implements StorageResources {
  readonly bucket: s3.Bucket;
  readonly accessLogBucket: s3.Bucket;
  replication?: BucketReplication;
  readonly promoter?: ReplicaPromoter;
  private readonly tables: ReadonlyMap<string, dynamodb.ITableV2>;
  /** The global tables themselves; only the primary region's stack creates them. */
  private readonly globalTables: ReadonlyMap<string, dynamodb.TableV2>;

  constructor(scope: Construct, id: string, props: StorageStackProps) {
    super(scope, id, props);
    const { config } = props;
    const retain = config.removalPolicy === 'retain';
    const removalPolicy = retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.accessLogBucket = new s3.Bucket(this, 'AccessLogBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      // Server access logging delivers only to SSE-S3 buckets.
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: Duration.days(config.logRetentionDays) }],
      removalPolicy,
    });

    this.bucket = new s3.Bucket(this, 'SignatureBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      // SSE-S3, not KMS: see docs/cdk.md ("Bucket encryption").
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'signature-bucket/',
      lifecycleRules: [
        // timestamp.json is rewritten at least hourly: keep a month of history, not all of it.
        { id: 'ExpireNoncurrentVersions', noncurrentVersionExpiration: Duration.days(30), abortIncompleteMultipartUploadAfter: Duration.days(7) },
        // A release commit's metadata before its commit point (lib/releases/repository.ts):
        // copied to metadata/ right after it, or by the hourly timestamp refresh if the commit
        // crashed; a racer's files are never copied. Nothing reads a staged file after that.
        // S3 also removes the delete markers the expiry leaves, once they are this old.
        {
          id: 'ExpireStaging',
          prefix: stagingPrefix,
          expiration: Duration.days(stagingExpiryDays),
          noncurrentVersionExpiration: Duration.days(1),
        },
        // Replica views (lib/releases/replication.ts), here and, replicated, in each replica:
        // a view is served within minutes or replaced by a newer one within the hour.
        {
          id: 'ExpireReplicaViews',
          prefix: replicaViewPrefix,
          expiration: Duration.days(replicaViewExpiryDays),
          noncurrentVersionExpiration: Duration.days(1),
        },
      ],
      removalPolicy,
    });
    this.bucket.addToResourcePolicy(cloudFrontReadStatement(this, this.bucket, config.distributionId));
    if (!props.primary && config.replicaRegions.length > 0) markReplicaViewSource(this.bucket);
    if (props.primary) {
      this.promoter = new ReplicaPromoter(this, 'ReplicaPromoter', { bucket: this.bucket, logRetention: config.logRetentionDays, logRemovalPolicy: removalPolicy });
    }

    this.globalTables = props.primary ? new Map() : createTables(this, config, removalPolicy);
    this.tables = props.primary ? replicaTables(props.primary, this.region) : this.globalTables;
  }

  /**
   * Replicates this (the primary region's) bucket to the replica regions' buckets. Their
   * stacks are then deployed before this one: a replication rule needs its destination to
   * exist, versioned.
   */
  replicateTo(replicas: readonly StorageStack[]): BucketReplication {
    if (this.promoter) throw new Error(`${this.node.path} is a replica region's storage: only the primary's bucket replicates`);
    if (this.replication) throw new Error(`${this.node.path} already replicates`);
    this.replication = new BucketReplication(this, 'Replication', {
      source: this.bucket,
      destinations: replicas.map((replica) => ({ region: replica.region, bucket: replica.bucket })),
    });
    return this.replication;
  }

  tableFor(definition: TableDefinition): dynamodb.ITableV2 {
    const table = this.tables.get(definition.id);
    if (!table) throw new Error(`${this.node.path} has no table "${definition.id}"`);
    return table;
  }

  /** The global table (primary region only): the handle a replica region's stack takes its replica from. */
  globalTableFor(definition: TableDefinition): dynamodb.TableV2 {
    const table = this.globalTables.get(definition.id);
    if (!table) throw new Error(`${this.node.path} is not the primary region's storage: it has no global table "${definition.id}"`);
    return table;
  }
}

/**
 * CloudFront (origin access control) may read objects under the published prefixes and
 * nothing else. The condition names the distribution when its id is configured; before
 * the first deploy it cannot be (the distribution is created after this bucket, in another
 * region), so it names any distribution of this account. See docs/cdk.md.
 */
function cloudFrontReadStatement(stack: Stack, bucket: s3.IBucket, distributionId: string | undefined): iam.PolicyStatement {
  const sourceArn = `arn:${stack.partition}:cloudfront::${stack.account}:distribution/${distributionId ?? '*'}`;
  return new iam.PolicyStatement({
    sid: 'AllowCloudFrontOriginAccessControlRead',
    principals: [new iam.ServicePrincipal('cloudfront.amazonaws.com')],
    actions: ['s3:GetObject'],
    resources: pathSpaces.map((space) => bucket.arnForObjects(`${space.prefix}*`)),
    conditions: distributionId ? { StringEquals: { 'AWS:SourceArn': sourceArn } } : { ArnLike: { 'AWS:SourceArn': sourceArn } },
  });
}

function createTables(scope: Construct, config: SignetConfig, removalPolicy: RemovalPolicy): ReadonlyMap<string, dynamodb.TableV2> {
  const created = new Map<string, dynamodb.TableV2>();
  for (const definition of tables) {
    const table = new dynamodb.TableV2(scope, definition.id, {
      partitionKey: attribute(definition.partitionKey),
      ...(definition.sortKey ? { sortKey: attribute(definition.sortKey) } : {}),
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: config.removalPolicy === 'retain',
      ...(definition.timeToLiveAttribute ? { timeToLiveAttribute: definition.timeToLiveAttribute } : {}),
      globalSecondaryIndexes: definition.globalSecondaryIndexes.map((index) => ({
        indexName: index.indexName,
        partitionKey: attribute(index.partitionKey),
        ...(index.sortKey ? { sortKey: attribute(index.sortKey) } : {}),
        projectionType: dynamodb.ProjectionType.ALL,
      })),
      replicas: config.replicaRegions.map((region) => ({ region })),
      removalPolicy,
    });
    created.set(definition.id, table);
  }
  return created;
}

function replicaTables(primary: StorageStack, region: string): ReadonlyMap<string, dynamodb.ITableV2> {
  return new Map(tables.map((definition) => [definition.id, primary.globalTableFor(definition).replica(region)]));
}

const ATTRIBUTE_TYPES: Record<KeyAttribute['type'], dynamodb.AttributeType> = {
  S: dynamodb.AttributeType.STRING,
  N: dynamodb.AttributeType.NUMBER,
  B: dynamodb.AttributeType.BINARY,
};

function attribute(key: KeyAttribute): dynamodb.Attribute {
  return { name: key.name, type: ATTRIBUTE_TYPES[key.type] };
}
