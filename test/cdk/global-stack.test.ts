import { Match } from 'aws-cdk-lib/assertions';
import type { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiPathPattern, pathSpaces } from '#lib/definitions/bucket.ts';
import type { CfnTemplate, SynthesizedApp } from './support.ts';
import { onlyResource, resourcesOfType, synthSignet } from './support.ts';

/** AWS managed policies, by their fixed ids. */
const CACHING_DISABLED = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';
const ALL_VIEWER_EXCEPT_HOST_HEADER = 'b689b0a8-53d0-40ab-baf2-68738e2966ac';

interface Behavior {
  PathPattern?: string;
  TargetOriginId: string;
  ViewerProtocolPolicy: string;
  AllowedMethods: string[];
  CachePolicyId: unknown;
  OriginRequestPolicyId?: string;
  TrustedKeyGroups?: unknown[];
  Compress: boolean;
}
interface DistributionConfig {
  CacheBehaviors: Behavior[];
  DefaultCacheBehavior: Behavior;
  Origins: Array<{ Id: string; DomainName: unknown; OriginAccessControlId?: unknown; CustomOriginConfig?: Record<string, unknown> }>;
  ViewerCertificate?: Record<string, unknown>;
  Aliases?: string[];
  Logging: { Bucket: unknown; Prefix: string };
  WebACLId: unknown;
}

let synth: SynthesizedApp;
let template: Template;
let json: CfnTemplate;
let config: DistributionConfig;

function distributionConfig(t: CfnTemplate): DistributionConfig {
  return (onlyResource(t, 'AWS::CloudFront::Distribution')[1].Properties as { DistributionConfig: DistributionConfig }).DistributionConfig;
}

beforeAll(() => {
  synth = synthSignet();
  template = synth.template(synth.stacks.global);
  json = synth.json(synth.stacks.global);
  config = distributionConfig(json);
});
afterAll(() => synth?.dispose());

function behavior(pathPattern: string): Behavior {
  const found = config.CacheBehaviors.find((b) => b.PathPattern === pathPattern);
  if (!found) throw new Error(`no behaviour for ${pathPattern}`);
  return found;
}

function origin(id: string) {
  const found = config.Origins.find((o) => o.Id === id);
  if (!found) throw new Error(`no origin ${id}`);
  return found;
}

describe('GlobalStack', () => {
  it('lives in us-east-1 and takes its origins from the primary region', () => {
    expect(synth.stacks.global.region).toBe('us-east-1');
    expect(synth.stacks.global.stackName).toBe('Signet-Global-us-east-1');
  });
});

describe('CloudFront behaviours', () => {
  it('serves /metadata/* publicly and /targets/* only with a signed URL, both from the S3 origin with OAC', () => {
    const [keyGroupId] = onlyResource(json, 'AWS::CloudFront::KeyGroup');
    for (const space of pathSpaces) {
      const b = behavior(space.pathPattern);
      expect(b.TrustedKeyGroups).toEqual(space.signedUrlRequired ? [{ Ref: keyGroupId }] : undefined);
      expect(b.AllowedMethods).toEqual(['GET', 'HEAD']);
      expect(b.Compress).toBe(true);
      const s3 = origin(b.TargetOriginId);
      expect(s3.OriginAccessControlId).toEqual({ 'Fn::GetAtt': [onlyResource(json, 'AWS::CloudFront::OriginAccessControl')[0], 'Id'] });
      expect(JSON.stringify(s3.DomainName)).toContain('.s3.eu-west-1.amazonaws.com');
    }
  });

  it('sends /v1/* to the primary region\'s HTTP API, uncached, with every method and the viewer\'s headers except Host', () => {
    const b = behavior(apiPathPattern);
    expect(b).toMatchObject({
      CachePolicyId: CACHING_DISABLED,
      OriginRequestPolicyId: ALL_VIEWER_EXCEPT_HOST_HEADER,
      AllowedMethods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'POST', 'DELETE'],
    });
    expect(b.TrustedKeyGroups).toBeUndefined();
    const api = origin(b.TargetOriginId);
    expect(api.CustomOriginConfig).toEqual({ OriginProtocolPolicy: 'https-only', OriginSSLProtocols: ['TLSv1.2'] });
    expect(api.DomainName).toEqual({
      'Fn::Join': ['', [{ 'Fn::GetStackOutput': expect.objectContaining({ StackName: 'Signet-Api-eu-west-1', Region: 'eu-west-1' }) }, '.execute-api.eu-west-1.', { Ref: 'AWS::URLSuffix' }]],
    });
  });

  it('denies by default: any other path needs a signed URL and is not cached', () => {
    const [keyGroupId] = onlyResource(json, 'AWS::CloudFront::KeyGroup');
    expect(config.DefaultCacheBehavior).toMatchObject({ TrustedKeyGroups: [{ Ref: keyGroupId }], CachePolicyId: CACHING_DISABLED, AllowedMethods: ['GET', 'HEAD'] });
  });

  it('answers HTTPS only on every behaviour', () => {
    for (const b of [...config.CacheBehaviors, config.DefaultCacheBehavior]) expect(b.ViewerProtocolPolicy).toBe('https-only');
  });

  it('keeps signed-URL query strings out of the object cache key and honours the origin Cache-Control up to a year', () => {
    template.hasResourceProperties('AWS::CloudFront::CachePolicy', {
      CachePolicyConfig: {
        DefaultTTL: 60,
        MinTTL: 0,
        MaxTTL: 31_536_000,
        ParametersInCacheKeyAndForwardedToOrigin: {
          QueryStringsConfig: { QueryStringBehavior: 'none' },
          HeadersConfig: { HeaderBehavior: 'none' },
          CookiesConfig: { CookieBehavior: 'none' },
          EnableAcceptEncodingGzip: true,
          EnableAcceptEncodingBrotli: true,
        },
      },
    });
    const [cachePolicyId] = onlyResource(json, 'AWS::CloudFront::CachePolicy');
    for (const space of pathSpaces) expect(behavior(space.pathPattern).CachePolicyId).toEqual({ Ref: cachePolicyId });
  });

  it('logs to a bucket of its own that keeps ACLs for CloudFront log delivery', () => {
    const [bucketId, bucket] = onlyResource(json, 'AWS::S3::Bucket');
    expect(config.Logging).toEqual({ Bucket: { 'Fn::GetAtt': [bucketId, 'RegionalDomainName'] }, Prefix: 'cloudfront/', IncludeCookies: false });
    expect(bucket.Properties).toMatchObject({
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerPreferred' }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    });
  });

  it('uses the default CloudFront certificate when no domain is configured', () => {
    expect(config.ViewerCertificate).toBeUndefined();
    expect(config.Aliases).toBeUndefined();
  });
});

describe('CloudFront with a custom domain', () => {
  it('serves the alias with the ACM certificate and TLS 1.2_2021 at least', () => {
    const withDomain = synthSignet({
      signet: { domainName: 'updates.example.com', certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666' },
    });
    try {
      const dc = distributionConfig(withDomain.json(withDomain.stacks.global));
      expect(dc.Aliases).toEqual(['updates.example.com']);
      expect(dc.ViewerCertificate).toEqual({
        AcmCertificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666',
        MinimumProtocolVersion: 'TLSv1.2_2021',
        SslSupportMethod: 'sni-only',
      });
    } finally {
      withDomain.dispose();
    }
  });
});

describe('CDN key group', () => {
  it('trusts exactly the public key the custom resource publishes from the KMS key of the keys stack', () => {
    const [customId, custom] = onlyResource(json, 'Custom::CdnPublicKey');
    template.hasResourceProperties('AWS::CloudFront::KeyGroup', { KeyGroupConfig: { Items: [{ Ref: customId }] } });
    expect(custom.Properties?.KeyArn).toEqual({
      'Fn::GetStackOutput': expect.objectContaining({ StackName: 'Signet-Keys-eu-west-1', Region: 'eu-west-1' }),
    });
    expect(JSON.stringify(custom.Properties?.KeyArn)).toContain('CdnSigningKey');
  });

  it('lets the custom resource read that one KMS public key and manage CloudFront public keys, nothing more', () => {
    const statements = resourcesOfType(json, 'AWS::IAM::Policy').flatMap(
      ([, p]) => (p.Properties as { PolicyDocument: { Statement: Array<{ Sid?: string; Action: unknown; Resource: unknown }> } }).PolicyDocument.Statement,
    );
    const kms = statements.find((s) => s.Sid === 'ReadSigningPublicKey');
    expect(kms?.Action).toBe('kms:GetPublicKey');
    expect(kms?.Resource).toEqual({ 'Fn::GetStackOutput': expect.objectContaining({ StackName: 'Signet-Keys-eu-west-1' }) });
    const cloudfront = statements.find((s) => s.Sid === 'ManageCloudFrontPublicKeys');
    expect(cloudfront).toEqual({
      Sid: 'ManageCloudFrontPublicKeys',
      Effect: 'Allow',
      Action: ['cloudfront:CreatePublicKey', 'cloudfront:DeletePublicKey', 'cloudfront:GetPublicKey', 'cloudfront:ListPublicKeys'],
      Resource: '*',
    });
    expect(statements.filter((s) => s.Resource === '*')).toHaveLength(1);
  });

  it('runs the custom resource handler and the provider framework with log groups that expire', () => {
    const groups = resourcesOfType(json, 'AWS::Logs::LogGroup');
    expect(groups).toHaveLength(2);
    for (const [, group] of groups) expect(group.Properties?.RetentionInDays).toBe(90);
    for (const [, fn] of resourcesOfType(json, 'AWS::Lambda::Function')) {
      expect(fn.Properties?.LoggingConfig).toMatchObject({ LogGroup: { Ref: expect.stringMatching(/LogGroup/) } });
    }
  });
});

describe('KeysStack', () => {
  it('holds a multi-Region ECC P-256 signing key, retained on delete', () => {
    const keys = synth.template(synth.stacks.keys);
    keys.hasResource('AWS::KMS::Key', {
      Properties: { KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', MultiRegion: true, PendingWindowInDays: 30 },
      DeletionPolicy: 'Retain',
    });
    expect(synth.stacks.keys.region).toBe('eu-west-1');
  });
});

describe('WAF', () => {
  it('guards the distribution with a CLOUDFRONT web ACL: AWS managed rules and a per-IP rate limit on /v1/', () => {
    const [aclId] = onlyResource(json, 'AWS::WAFv2::WebACL');
    expect(config.WebACLId).toEqual({ 'Fn::GetAtt': [aclId, 'Arn'] });
    template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'CLOUDFRONT',
      DefaultAction: { Allow: {} },
      Rules: Match.arrayWith([
        Match.objectLike({
          Name: 'ApiRateLimitPerIp',
          Action: { Block: {} },
          Statement: {
            RateBasedStatement: {
              Limit: 2000,
              AggregateKeyType: 'IP',
              EvaluationWindowSec: 300,
              ScopeDownStatement: { ByteMatchStatement: Match.objectLike({ SearchString: '/v1/', PositionalConstraint: 'STARTS_WITH' }) },
            },
          },
        }),
        Match.objectLike({ Name: 'AWSManagedRulesCommonRuleSet', Statement: { ManagedRuleGroupStatement: { VendorName: 'AWS', Name: 'AWSManagedRulesCommonRuleSet' } } }),
        Match.objectLike({ Name: 'AWSManagedRulesKnownBadInputsRuleSet' }),
      ]),
    });
  });
});
