import { Match } from 'aws-cdk-lib/assertions';
import type { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiPathPattern, cacheControlFor, metadataSpace, pathSpaces, stagingPrefix, targetsSpace } from '#lib/definitions/bucket.ts';
import type { RouteDefinition } from '#lib/definitions/routes.ts';
import { routeKey, routes } from '#lib/definitions/routes.ts';
import { ANONYMOUS_IP_COUNT_ONLY, BODY_SIZE_LABEL, COMMON_RULE_SET_BODY_LIMIT, largeBodyRoutes, WAF_LOG_GROUP_NAME } from '../../cdk/stacks/global-stack.ts';
import { viewerRequestSource } from '#lib/cdn/viewer-request.ts';
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
  FunctionAssociations?: Array<{ EventType: string; FunctionARN: unknown }>;
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

  it('runs the path guard (lib/cdn/viewer-request.js, the code the local origin runs) on the viewer request of every behaviour that reads the bucket, and on none other', () => {
    const [functionId, fn] = onlyResource(json, 'AWS::CloudFront::Function');
    expect(fn.Properties).toMatchObject({ AutoPublish: true, FunctionCode: viewerRequestSource, FunctionConfig: { Runtime: 'cloudfront-js-2.0' } });
    const guarded = [{ EventType: 'viewer-request', FunctionARN: { 'Fn::GetAtt': [functionId, 'FunctionARN'] } }];
    for (const space of pathSpaces) expect(behavior(space.pathPattern).FunctionAssociations).toEqual(guarded);
    expect(config.DefaultCacheBehavior.FunctionAssociations).toEqual(guarded);
    expect(behavior(apiPathPattern).FunctionAssociations).toBeUndefined();
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

  it('honours every Cache-Control the objects carry (cacheControlFor): each max-age lies within [MinTTL, MaxTTL], so CloudFront uses it as is', () => {
    const [, policy] = onlyResource(json, 'AWS::CloudFront::CachePolicy');
    const { MinTTL, DefaultTTL, MaxTTL } = (policy.Properties as { CachePolicyConfig: { MinTTL: number; DefaultTTL: number; MaxTTL: number } }).CachePolicyConfig;
    const keys = [`${metadataSpace.prefix}timestamp.json`, `${metadataSpace.prefix}3.snapshot.json`, `${metadataSpace.prefix}7.targets.json`, `${metadataSpace.prefix}2.root.json`, `${targetsSpace.prefix}av/${'a'.repeat(64)}.main.cvd`];
    const maxAges = keys.map((key) => Number(/max-age=(\d+)/.exec(cacheControlFor(key))?.[1]));
    expect(maxAges).toEqual([60, 31_536_000, 31_536_000, 31_536_000, 31_536_000]);
    for (const maxAge of maxAges) {
      expect(maxAge).toBeGreaterThanOrEqual(MinTTL);
      expect(maxAge).toBeLessThanOrEqual(MaxTTL);
    }
    // An object without Cache-Control (never written so by the service) is cached no longer than timestamp.json.
    expect(MinTTL).toBe(0);
    expect(DefaultTTL).toBeLessThanOrEqual(maxAges[0] ?? 0);
  });

  it('keeps the whole query string out of the cache key on /metadata/* and /targets/* (signed-URL parameters must not split the cache)', () => {
    const [cachePolicyId, policy] = onlyResource(json, 'AWS::CloudFront::CachePolicy');
    expect((policy.Properties as { CachePolicyConfig: { ParametersInCacheKeyAndForwardedToOrigin: { QueryStringsConfig: unknown } } }).CachePolicyConfig.ParametersInCacheKeyAndForwardedToOrigin.QueryStringsConfig).toEqual({
      QueryStringBehavior: 'none',
    });
    for (const space of pathSpaces) {
      const b = behavior(space.pathPattern);
      expect(b.CachePolicyId).toEqual({ Ref: cachePolicyId });
      expect(b.OriginRequestPolicyId, space.pathPattern).toBeUndefined();
    }
  });

  it('forwards the Authorization header on /v1/*: caching disabled, so AllViewerExceptHostHeader may carry it (an origin request policy cannot name it)', () => {
    // The manifest, reports and agents/self routes need the agent's bearer token. CloudFront
    // forwards Authorization through an origin request policy only when caching is disabled.
    const b = behavior(apiPathPattern);
    expect(b.CachePolicyId).toBe(CACHING_DISABLED);
    expect(b.OriginRequestPolicyId).toBe(ALL_VIEWER_EXCEPT_HOST_HEADER);
    expect(resourcesOfType(json, 'AWS::CloudFront::OriginRequestPolicy')).toEqual([]);
  });

  it('serves nothing under staging/: no behaviour but the default (signed URL required, uncached) matches it', () => {
    // Every pattern here is a prefix with a trailing '*'.
    const matches = (pattern: string, path: string) => pattern.endsWith('*') && path.startsWith(pattern.slice(0, -1));
    const stagedPath = `/${stagingPrefix}0b9e4c2a.targets.json`;
    expect(config.CacheBehaviors.filter((b) => matches(b.PathPattern ?? '', stagedPath))).toEqual([]);
    expect(config.DefaultCacheBehavior.TrustedKeyGroups).toHaveLength(1);
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
    // Theirs, the WAF log ("WAF"), and that of the function copying the CDN parameter to the primary region.
    expect(groups).toHaveLength(4);
    for (const [, group] of groups) expect(group.Properties?.RetentionInDays).toBe(90);
    for (const [, fn] of resourcesOfType(json, 'AWS::Lambda::Function')) {
      expect(fn.Properties?.LoggingConfig).toMatchObject({ LogGroup: { Ref: expect.stringMatching(/LogGroup/) } });
    }
  });
});

describe('CDN identity parameter', () => {
  it('publishes { baseUrl, keyPairId } under the configured fixed name in us-east-1: the distribution domain and the published public key', () => {
    const [, parameter] = onlyResource(json, 'AWS::SSM::Parameter');
    const [distributionId] = onlyResource(json, 'AWS::CloudFront::Distribution');
    const [publicKeyId] = onlyResource(json, 'Custom::CdnPublicKey');
    expect(parameter.Properties).toMatchObject({ Name: '/signet/cdn', Type: 'String', Tier: 'Standard' });
    expect(parameter.Properties?.Value).toEqual({
      'Fn::Join': ['', ['{"baseUrl":"https://', { 'Fn::GetAtt': [distributionId, 'DomainName'] }, '","keyPairId":"', { Ref: publicKeyId }, '"}']],
    });
    expect(synth.stacks.global.region).toBe('us-east-1');
    expect(synth.config.cdnParameterName).toBe('/signet/cdn');
  });

  it('is copied, with the same value, to the primary region, where the manifest function reads it: same name, same region', () => {
    const primary = synth.stacks.regions[0];
    if (!primary) throw new Error('no primary region');
    const apiJson = JSON.stringify(synth.json(primary.api));
    expect(apiJson).toContain(`"arn:aws:ssm:${primary.region}:",{"Ref":"AWS::AccountId"},":parameter${synth.config.cdnParameterName}"`);
    const [, copy] = onlyResource(json, 'Custom::SignetParameterCopy');
    const [, parameter] = onlyResource(json, 'AWS::SSM::Parameter');
    const create = JSON.stringify(copy.Properties?.Create);
    expect(create).toContain(`\\"region\\":\\"${primary.region}\\"`);
    expect(create).toContain('\\"action\\":\\"putParameter\\"');
    // The same tokens as the us-east-1 parameter's value, inside the SDK call's JSON.
    const value = parameter.Properties?.Value as { 'Fn::Join': [string, unknown[]] };
    for (const part of value['Fn::Join'][1].filter((p) => typeof p === 'object')) expect(create).toContain(JSON.stringify(part));
    expect(copy.Properties?.Update).toEqual(copy.Properties?.Create);
  });

  it('uses the custom domain in baseUrl when one is configured', () => {
    const withDomain = synthSignet({
      signet: { domainName: 'updates.example.com', certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666', cdnParameterName: '/acme/cdn' },
    });
    try {
      const [, parameter] = onlyResource(withDomain.json(withDomain.stacks.global), 'AWS::SSM::Parameter');
      expect(parameter.Properties?.Name).toBe('/acme/cdn');
      expect(JSON.stringify(parameter.Properties?.Value)).toContain('{\\"baseUrl\\":\\"https://updates.example.com\\",\\"keyPairId\\":\\"');
    } finally {
      withDomain.dispose();
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

  interface WafRule {
    Name: string;
    Priority: number;
    Action?: Record<string, unknown>;
    Statement: WafStatement & {
      RateBasedStatement?: {
        ScopeDownStatement: { ByteMatchStatement: { SearchString: string; PositionalConstraint: string; FieldToMatch: unknown; TextTransformations: Array<{ Priority: number; Type: string }> } };
      };
      ManagedRuleGroupStatement?: { Name: string; RuleActionOverrides?: unknown[] };
    };
  }
  /** The statements the body-size rule is made of. */
  interface WafStatement {
    AndStatement?: { Statements: WafStatement[] };
    OrStatement?: { Statements: WafStatement[] };
    NotStatement?: { Statement: WafStatement };
    LabelMatchStatement?: { Scope: string; Key: string };
    ByteMatchStatement?: { FieldToMatch: { Method?: object }; PositionalConstraint: string; SearchString: string };
    RegexMatchStatement?: { FieldToMatch: { UriPath?: object }; RegexString: string; TextTransformations: Array<{ Priority: number; Type: string }> };
  }
  /** Whether `statement` matches a request (path already as CloudFront normalizes it), as WAF would decide it. */
  function matches(statement: WafStatement, request: { method: string; path: string; labels: readonly string[] }): boolean {
    if (statement.AndStatement) return statement.AndStatement.Statements.every((s) => matches(s, request));
    if (statement.OrStatement) return statement.OrStatement.Statements.some((s) => matches(s, request));
    if (statement.NotStatement) return !matches(statement.NotStatement.Statement, request);
    if (statement.LabelMatchStatement) return statement.LabelMatchStatement.Scope === 'LABEL' && request.labels.includes(statement.LabelMatchStatement.Key);
    const byte = statement.ByteMatchStatement;
    if (byte?.FieldToMatch.Method && byte.PositionalConstraint === 'EXACTLY') return request.method === byte.SearchString;
    const regex = statement.RegexMatchStatement;
    if (regex?.FieldToMatch.UriPath) return new RegExp(regex.RegexString).test(request.path);
    throw new Error(`a statement this test cannot evaluate: ${JSON.stringify(statement)}`);
  }
  const rules = (): WafRule[] => (onlyResource(json, 'AWS::WAFv2::WebACL')[1].Properties as { Rules: WafRule[] }).Rules;

  it('evaluates the per-IP rate limit first, so no other rule ends a request before it is counted', () => {
    const sorted = [...rules()].sort((a, b) => a.Priority - b.Priority);
    expect(sorted[0]?.Name).toBe('ApiRateLimitPerIp');
    expect(new Set(rules().map((r) => r.Priority)).size).toBe(rules().length);
  });

  it('evaluates, in this order: rate limit, IP reputation, anonymous IPs, common rules, body size, known bad inputs', () => {
    const sorted = [...rules()].sort((a, b) => a.Priority - b.Priority).map((r) => r.Name);
    expect(sorted).toEqual([
      'ApiRateLimitPerIp',
      'AWSManagedRulesAmazonIpReputationList',
      'AWSManagedRulesAnonymousIpList',
      'AWSManagedRulesCommonRuleSet',
      'BodySizeExceptLargeBodyRoutes',
      'AWSManagedRulesKnownBadInputsRuleSet',
    ]);
  });

  it('blocks with the IP lists as AWS ships them, except hosting providers (mirrors, agents on servers), which are only counted', () => {
    const byName = (name: string) => rules().find((r) => r.Name === name) as WafRule & { OverrideAction?: unknown };
    const reputation = byName('AWSManagedRulesAmazonIpReputationList');
    expect(reputation.Statement.ManagedRuleGroupStatement).toEqual({ VendorName: 'AWS', Name: 'AWSManagedRulesAmazonIpReputationList' });
    expect(reputation.OverrideAction).toEqual({ None: {} });
    const anonymous = byName('AWSManagedRulesAnonymousIpList');
    expect(ANONYMOUS_IP_COUNT_ONLY).toBe('HostingProviderIPList');
    expect(anonymous.Statement.ManagedRuleGroupStatement).toEqual({
      VendorName: 'AWS',
      Name: 'AWSManagedRulesAnonymousIpList',
      RuleActionOverrides: [{ Name: 'HostingProviderIPList', ActionToUse: { Count: {} } }],
    });
    expect(anonymous.OverrideAction).toEqual({ None: {} });
  });

  /**
   * The web ACL's capacity, estimated from the template by AWS WAF's published costs: a managed
   * group its fixed WCU; a rate-based rule 2 plus its scope-down; a label match 1; a string
   * match (EXACTLY, STARTS_WITH) 2; a regex 3; each text transformation but NONE 10; logical
   * statements the sum of theirs. An upper bound: WAF may charge a shared transformation once.
   */
  const MANAGED_WCU: Record<string, number> = {
    AWSManagedRulesCommonRuleSet: 700,
    AWSManagedRulesKnownBadInputsRuleSet: 200,
    AWSManagedRulesAmazonIpReputationList: 25,
    AWSManagedRulesAnonymousIpList: 50,
  };
  interface AnyStatement extends WafStatement {
    RateBasedStatement?: { ScopeDownStatement?: AnyStatement };
    ManagedRuleGroupStatement?: { Name: string };
    ByteMatchStatement?: WafStatement['ByteMatchStatement'] & { TextTransformations?: Array<{ Type: string }> };
  }
  function wcu(statement: AnyStatement): number {
    const transformations = (list?: Array<{ Type: string }>) => 10 * (list ?? []).filter((t) => t.Type !== 'NONE').length;
    if (statement.ManagedRuleGroupStatement) {
      const cost = MANAGED_WCU[statement.ManagedRuleGroupStatement.Name];
      if (cost === undefined) throw new Error(`no WCU known for ${statement.ManagedRuleGroupStatement.Name}`);
      return cost;
    }
    if (statement.RateBasedStatement) return 2 + (statement.RateBasedStatement.ScopeDownStatement ? wcu(statement.RateBasedStatement.ScopeDownStatement) : 0);
    if (statement.AndStatement) return statement.AndStatement.Statements.reduce((sum, s) => sum + wcu(s), 0);
    if (statement.OrStatement) return statement.OrStatement.Statements.reduce((sum, s) => sum + wcu(s), 0);
    if (statement.NotStatement) return wcu(statement.NotStatement.Statement);
    if (statement.LabelMatchStatement) return 1;
    if (statement.ByteMatchStatement && ['EXACTLY', 'STARTS_WITH', 'ENDS_WITH'].includes(statement.ByteMatchStatement.PositionalConstraint)) {
      return 2 + transformations(statement.ByteMatchStatement.TextTransformations);
    }
    if (statement.RegexMatchStatement) return 3 + transformations(statement.RegexMatchStatement.TextTransformations);
    throw new Error(`no WCU known for ${JSON.stringify(statement)}`);
  }

  it('stays within the 1,500 WCU a web ACL gets at the base price: 1,025 (docs/cdk.md, "WAF")', () => {
    const perRule = Object.fromEntries(rules().map((r) => [r.Name, wcu(r.Statement as AnyStatement)]));
    expect(perRule).toEqual({
      ApiRateLimitPerIp: 24,
      AWSManagedRulesAmazonIpReputationList: 25,
      AWSManagedRulesAnonymousIpList: 50,
      AWSManagedRulesCommonRuleSet: 700,
      // One large-body route: a label match, and per route a method match and a path regex with two transformations.
      BodySizeExceptLargeBodyRoutes: 1 + largeBodyRoutes(routes).length * (2 + 3 + 20),
      AWSManagedRulesKnownBadInputsRuleSet: 200,
    });
    const total = Object.values(perRule).reduce((a, b) => a + b, 0);
    expect(total).toBe(1025);
    expect(total).toBeLessThanOrEqual(1500);
  });

  it('logs to aws-waf-logs-signet in us-east-1, kept logRetentionDays, with the Authorization header and query strings redacted, blocked and counted requests only', () => {
    const [aclId] = onlyResource(json, 'AWS::WAFv2::WebACL');
    const [, group] = resourcesOfType(json, 'AWS::Logs::LogGroup').find(([, g]) => g.Properties?.LogGroupName === WAF_LOG_GROUP_NAME) ?? [];
    expect(group?.Properties).toMatchObject({ LogGroupName: WAF_LOG_GROUP_NAME, RetentionInDays: 90 });
    expect(group?.DeletionPolicy).toBe('Retain');
    expect(WAF_LOG_GROUP_NAME.startsWith('aws-waf-logs-')).toBe(true);
    const [, logging] = onlyResource(json, 'AWS::WAFv2::LoggingConfiguration');
    expect(logging.Properties).toEqual({
      ResourceArn: { 'Fn::GetAtt': [aclId, 'Arn'] },
      // The log group's ARN without the `:*` its GetAtt Arn ends with, as WAF requires.
      LogDestinationConfigs: [{ 'Fn::Join': ['', ['arn:aws:logs:us-east-1:', { Ref: 'AWS::AccountId' }, `:log-group:${WAF_LOG_GROUP_NAME}`]] }],
      RedactedFields: [{ SingleHeader: { Name: 'authorization' } }, { QueryString: {} }],
      LoggingFilter: {
        DefaultBehavior: 'DROP',
        Filters: [
          {
            Behavior: 'KEEP',
            Requirement: 'MEETS_ANY',
            Conditions: [{ ActionCondition: { Action: 'BLOCK' } }, { ActionCondition: { Action: 'COUNT' } }, { ActionCondition: { Action: 'EXCLUDED_AS_COUNT' } }],
          },
        ],
      },
    });
  });

  it('lets WAF log delivery write to that log group only, for this account only', () => {
    const [, policy] = onlyResource(json, 'AWS::Logs::ResourcePolicy');
    // A JSON string joined around references: put the account's Ref back as a placeholder.
    const parts = (policy.Properties?.PolicyDocument as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
    const text = parts.map((part) => (typeof part === 'string' ? part : 'ACCOUNT')).join('');
    expect(JSON.parse(text)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'WafLogDelivery',
          Effect: 'Allow',
          Principal: { Service: 'delivery.logs.amazonaws.com' },
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: `arn:aws:logs:us-east-1:ACCOUNT:log-group:${WAF_LOG_GROUP_NAME}:log-stream:*`,
          Condition: { StringEquals: { 'aws:SourceAccount': 'ACCOUNT' }, ArnLike: { 'aws:SourceArn': 'arn:aws:logs:us-east-1:ACCOUNT:*' } },
        },
      ],
    });
  });

  it('counts every request CloudFront sends to the API: every route, and paths that only normalize to /v1/', () => {
    const scope = rules().find((r) => r.Name === 'ApiRateLimitPerIp')?.Statement.RateBasedStatement?.ScopeDownStatement.ByteMatchStatement;
    expect(scope?.FieldToMatch).toEqual({ UriPath: {} });
    expect(scope?.PositionalConstraint).toBe('STARTS_WITH');
    expect(`${scope?.SearchString}*`).toBe(apiPathPattern);
    for (const route of routes) expect(route.path.startsWith(scope?.SearchString ?? '?'), route.path).toBe(true);
    // CloudFront chooses the behaviour on the normalized path; WAF must compare the same.
    expect(scope?.TextTransformations).toEqual([
      { Priority: 0, Type: 'URL_DECODE' },
      { Priority: 1, Type: 'NORMALIZE_PATH' },
    ]);
  });

  describe('request bodies over 8 KB', () => {
    const bodySize = () => rules().find((r) => r.Name === 'BodySizeExceptLargeBodyRoutes');
    /** Whether a request whose body the common rule set labelled as over 8 KB is blocked. */
    const blocked = (method: string, path: string) => matches(bodySize()?.Statement ?? {}, { method, path, labels: [BODY_SIZE_LABEL] });
    const concretePath = (route: RouteDefinition) => route.path.replace(/\{[^}]+\}/g, 'x-1');

    it('reach exactly the routes whose definition allows them, a mirror\'s relayed reports among them', () => {
      expect(COMMON_RULE_SET_BODY_LIMIT).toBe(8192);
      const large = largeBodyRoutes(routes).map(routeKey);
      expect(large).toContain('POST /v1/mirrors/reports');
      // Declared large, but admin: signed for the API's own endpoint, never through the CDN.
      expect(large).not.toContain('POST /v1/admin/releases');
      for (const route of routes) {
        const allowed = route.authorization === 'public' && route.maxBodyBytes !== undefined && route.maxBodyBytes > 8192;
        expect(blocked(route.method, concretePath(route)), routeKey(route)).toBe(!allowed);
        expect(large.includes(routeKey(route)), routeKey(route)).toBe(allowed);
      }
    });

    it('are blocked everywhere else: another method, a longer or similar path, the bucket\'s paths', () => {
      for (const [method, path] of [
        ['GET', '/v1/mirrors/reports'],
        ['PUT', '/v1/mirrors/reports'],
        ['POST', '/v1/mirrors/reports/x'],
        ['POST', '/v1/mirrors/reportsx'],
        ['POST', '/x/v1/mirrors/reports'],
        ['POST', '/v1/reports'],
        ['POST', '/v1/manifest'],
        ['POST', '/metadata/timestamp.json'],
      ] as const) {
        expect(blocked(method, path), `${method} ${path}`).toBe(true);
      }
      // Only what the common rule set labelled: a small body passes this rule on every path.
      expect(matches(bodySize()?.Statement ?? {}, { method: 'POST', path: '/v1/manifest', labels: [] })).toBe(false);
    });

    it('are only counted by the common rule set\'s SizeRestrictions_BODY, and blocked by a rule after it (labels reach later rules only)', () => {
      const common = rules().find((r) => r.Name === 'AWSManagedRulesCommonRuleSet');
      expect(common?.Statement.ManagedRuleGroupStatement?.RuleActionOverrides).toEqual([{ Name: 'SizeRestrictions_BODY', ActionToUse: { Count: {} } }]);
      expect(bodySize()?.Action).toEqual({ Block: {} });
      expect(bodySize()?.Priority).toBeGreaterThan(common?.Priority ?? Infinity);
      expect(bodySize()?.Statement.AndStatement?.Statements[0]).toEqual({ LabelMatchStatement: { Scope: 'LABEL', Key: BODY_SIZE_LABEL } });
    });

    it('compare the path as CloudFront routes it, as the rate rule does', () => {
      const rate = rules().find((r) => r.Name === 'ApiRateLimitPerIp')?.Statement.RateBasedStatement?.ScopeDownStatement.ByteMatchStatement.TextTransformations;
      const regexes = JSON.stringify(bodySize()?.Statement).match(/"RegexMatchStatement"/g) ?? [];
      expect(regexes).toHaveLength(largeBodyRoutes(routes).length);
      const collect = (s: WafStatement): WafStatement[] => [s, ...[...(s.AndStatement?.Statements ?? []), ...(s.OrStatement?.Statements ?? []), ...(s.NotStatement ? [s.NotStatement.Statement] : [])].flatMap(collect)];
      for (const s of collect(bodySize()?.Statement ?? {})) if (s.RegexMatchStatement) expect(s.RegexMatchStatement.TextTransformations).toEqual(rate);
    });

    it('with no route allowing them, the common rule set stays as AWS ships it', () => {
      expect(largeBodyRoutes(routes.map(({ maxBodyBytes: _dropped, ...route }) => route))).toEqual([]);
      expect(largeBodyRoutes([{ method: 'POST', path: '/v1/x', functionId: 'x', authorization: 'public', maxBodyBytes: COMMON_RULE_SET_BODY_LIMIT }])).toEqual([]);
    });
  });
});
