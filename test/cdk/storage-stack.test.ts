import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pathSpaces, replicaViewExpiryDays, replicaViewPrefix, stagingExpiryDays, stagingPrefix } from '#lib/definitions/bucket.ts';
import { mainTable } from '#lib/definitions/tables.ts';
import { parseConfig } from '../../cdk/config.ts';
import { StorageStack } from '../../cdk/stacks/storage-stack.ts';
import type { SynthesizedApp } from './support.ts';
import { cdkJsonContext, contextWith, onlyResource, synthSignet, withReplicas } from './support.ts';

let synth: SynthesizedApp;
let template: Template;

beforeAll(() => {
  synth = synthSignet();
  const primary = synth.stacks.regions[0];
  if (!primary) throw new Error('no primary region');
  template = synth.template(primary.storage);
});
afterAll(() => synth?.dispose());

/** A storage stack alone, for configuration variants (no functions, nothing to bundle). */
function storageAlone(signet: Record<string, unknown>): Template {
  const app = new App({ context: contextWith(signet) });
  const config = parseConfig(app.node.tryGetContext('signet'), {});
  const stack = new StorageStack(app, 'Storage', { env: { region: config.primaryRegion }, config });
  return Template.fromStack(stack);
}

function signatureBucketLogicalId(): string {
  const buckets = template.findResources('AWS::S3::Bucket', { Properties: { VersioningConfiguration: { Status: 'Enabled' } } });
  const ids = Object.keys(buckets);
  expect(ids).toHaveLength(1);
  return ids[0] as string;
}

describe('StorageStack signature bucket', () => {
  it('is private, SSE-S3 encrypted, versioned, owner-enforced and logs access to the log bucket', () => {
    const logBucket = Object.keys(template.findResources('AWS::S3::Bucket', { Properties: { VersioningConfiguration: Match.absent() } }));
    expect(logBucket).toHaveLength(1);
    template.hasResource('AWS::S3::Bucket', {
      Properties: {
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        VersioningConfiguration: { Status: 'Enabled' },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        LoggingConfiguration: { DestinationBucketName: { Ref: logBucket[0] }, LogFilePrefix: 'signature-bucket/' },
      },
      DeletionPolicy: 'Retain',
    });
  });

  it('has a bucket policy that refuses plain HTTP and lets only CloudFront read only the published prefixes', () => {
    const bucket = signatureBucketLogicalId();
    const [, policy] = Object.entries(template.findResources('AWS::S3::BucketPolicy', { Properties: { Bucket: { Ref: bucket } } }))[0] ?? [];
    const statements = (policy?.Properties as { PolicyDocument: { Statement: Array<Record<string, unknown>> } }).PolicyDocument.Statement;

    expect(statements.filter((s) => s.Effect === 'Deny')).toEqual([
      expect.objectContaining({ Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } }, Principal: { AWS: '*' } }),
    ]);
    const allows = statements.filter((s) => s.Effect === 'Allow');
    expect(allows).toEqual([
      {
        Sid: 'AllowCloudFrontOriginAccessControlRead',
        Effect: 'Allow',
        Principal: { Service: 'cloudfront.amazonaws.com' },
        Action: 's3:GetObject',
        Resource: pathSpaces.map((space) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, `/${space.prefix}*`]] })),
        Condition: {
          ArnLike: { 'AWS:SourceArn': { 'Fn::Join': ['', ['arn:aws:cloudfront::', { Ref: 'AWS::AccountId' }, ':distribution/*']] } },
        },
      },
    ]);
  });

  it('expires staged release metadata after stagingExpiryDays and replica views after replicaViewExpiryDays, their noncurrent versions a day later, leaving the rest of the bucket to its own rule', () => {
    const bucket = template.toJSON().Resources[signatureBucketLogicalId()] as { Properties: { LifecycleConfiguration: { Rules: Array<Record<string, unknown>> } } };
    const rules = bucket.Properties.LifecycleConfiguration.Rules;
    expect(rules).toEqual([
      { Id: 'ExpireNoncurrentVersions', Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 30 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } },
      { Id: 'ExpireStaging', Status: 'Enabled', Prefix: stagingPrefix, ExpirationInDays: stagingExpiryDays, NoncurrentVersionExpiration: { NoncurrentDays: 1 } },
      { Id: 'ExpireReplicaViews', Status: 'Enabled', Prefix: replicaViewPrefix, ExpirationInDays: replicaViewExpiryDays, NoncurrentVersionExpiration: { NoncurrentDays: 1 } },
    ]);
    // Only these rules expire current versions: published metadata and targets never expire.
    expect(rules.filter((r) => r.ExpirationInDays !== undefined).map((r) => r.Prefix)).toEqual([stagingPrefix, replicaViewPrefix]);
  });

  it('never lets CloudFront (or anyone but the grants of the API stack) read staging/', () => {
    const bucket = signatureBucketLogicalId();
    const [, policy] = Object.entries(template.findResources('AWS::S3::BucketPolicy', { Properties: { Bucket: { Ref: bucket } } }))[0] ?? [];
    const statements = (policy?.Properties as { PolicyDocument: { Statement: Array<Record<string, unknown>> } }).PolicyDocument.Statement;
    for (const statement of statements.filter((s) => s.Effect === 'Allow')) {
      const resources = [statement.Resource].flat().map((r) => JSON.stringify(r));
      expect(resources.some((r) => r.includes(stagingPrefix)), JSON.stringify(statement)).toBe(false);
      // Every allowed resource is under a published prefix: no bucket-wide object ARN that would cover staging/ too.
      for (const resource of resources) expect(pathSpaces.some((space) => resource.includes(`/${space.prefix}*`)), resource).toBe(true);
    }
    expect(pathSpaces.some((space) => space.prefix === stagingPrefix || stagingPrefix.startsWith(space.prefix))).toBe(false);
  });

  it('pins AWS:SourceArn to one distribution once signet.distributionId is configured', () => {
    const pinned = storageAlone({ distributionId: 'E2QWRUHAPOMQZL' });
    pinned.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'AllowCloudFrontOriginAccessControlRead',
            Condition: {
              StringEquals: {
                'AWS:SourceArn': { 'Fn::Join': ['', ['arn:aws:cloudfront::', { Ref: 'AWS::AccountId' }, ':distribution/E2QWRUHAPOMQZL']] },
              },
            },
          }),
        ]),
      },
    });
  });
});

describe('StorageStack tables', () => {
  it('builds each table from lib/definitions/tables.ts: keys, on-demand, PITR, deletion protection, TTL, GSIs', () => {
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 1);
    template.hasResource('AWS::DynamoDB::GlobalTable', {
      Properties: {
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: mainTable.timeToLiveAttribute, Enabled: true },
        GlobalSecondaryIndexes: [
          {
            IndexName: 'gsi1',
            KeySchema: [
              { AttributeName: 'gsi1pk', KeyType: 'HASH' },
              { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
        Replicas: [
          {
            Region: 'eu-west-1',
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
            DeletionProtectionEnabled: true,
          },
        ],
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('turns deletion protection and retention off only for removalPolicy "destroy"', () => {
    const throwaway = storageAlone({ removalPolicy: 'destroy' });
    throwaway.hasResource('AWS::DynamoDB::GlobalTable', {
      Properties: { Replicas: [Match.objectLike({ DeletionProtectionEnabled: false, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } })] },
      DeletionPolicy: 'Delete',
    });
    throwaway.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
  });

  it('adds a replica of every table for each replica region', () => {
    const replicated = storageAlone({ ...withReplicas(['eu-central-1']) });
    const [table] = Object.values(replicated.findResources('AWS::DynamoDB::GlobalTable'));
    const replicas = (table?.Properties as { Replicas: Array<{ Region: string; DeletionProtectionEnabled: boolean }> }).Replicas;
    expect(replicas.map((r) => r.Region).sort()).toEqual(['eu-central-1', 'eu-west-1']);
    expect(replicas.every((r) => r.DeletionProtectionEnabled)).toBe(true);
  });

  it('expects the default signet block in cdk.json', () => {
    expect(cdkJsonContext.signet).toMatchObject({ primaryRegion: 'eu-west-1', replicaRegions: [], logRetentionDays: 90, removalPolicy: 'retain' });
  });

  it('resolves a table by definition and refuses an unknown one', () => {
    const primary = synth.stacks.regions[0]?.storage;
    expect(primary?.tableFor(mainTable)).toBeDefined();
    expect(() => primary?.tableFor({ ...mainTable, id: 'Nope' })).toThrow(/no table "Nope"/);
    const stack = Stack.of(primary as StorageStack);
    expect(onlyResource(synth.json(stack), 'AWS::DynamoDB::GlobalTable')[0]).toMatch(/^Main/);
  });
});
