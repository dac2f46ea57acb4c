import { Match } from 'aws-cdk-lib/assertions';
import type { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiPathPattern, cacheControlFor, metadataSpace, pathSpaces, stagingPrefix, targetsSpace } from '#lib/definitions/bucket.ts';
import type { RouteDefinition } from '#lib/definitions/routes.ts';
import { routeKey, routes } from '#lib/definitions/routes.ts';
import { BODY_SIZE_LABEL, COMMON_RULE_SET_BODY_LIMIT, largeBodyRoutes } from '../../cdk/stacks/global-stack.ts';
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
    expect(groups).toHaveLength(2);
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

  it('is the very parameter the manifest function may read: same name, same region', () => {
    const primary = synth.stacks.regions[0];
    if (!primary) throw new Error('no primary region');
    const apiJson = JSON.stringify(synth.json(primary.api));
    expect(apiJson).toContain(`"arn:aws:ssm:${synth.stacks.global.region}:",{"Ref":"AWS::AccountId"},":parameter${synth.config.cdnParameterName}"`);
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
