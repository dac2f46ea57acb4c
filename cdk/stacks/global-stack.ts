/**
 * The single global entry, in us-east-1 (CloudFront's region for certificates and WAF):
 * the distribution, its key group, the WAF web ACL and the CloudFront access logs.
 * `/metadata/*` and `/targets/*` come from the primary region's bucket (with replica
 * regions: an origin group that fails over to the first replica region's bucket), `/v1/*`
 * from the primary region's HTTP API; everything else is refused.
 */
import { ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import type { Construct } from 'constructs';
import { apiPathPattern, pathSpaces } from '#lib/definitions/bucket.ts';
import type { RouteDefinition } from '#lib/definitions/routes.ts';
import { isPrimaryOnly, routes as definedRoutes } from '#lib/definitions/routes.ts';
import { viewerRequestSource } from '#lib/cdn/viewer-request.ts';
import type { CdnParameter } from '#lib/aws/cloud-cdn.ts';
import type { SignetConfig } from '../config.ts';
import { regionalApiDomainName } from '../config.ts';
import { CdnPublicKey } from '../constructs/cdn-public-key.ts';
import { RegionalParameterCopies } from '../constructs/regional-parameter-copies.ts';
import { acknowledge } from '../nag.ts';

/** A region's origins: its signature bucket and its HTTP API. */
export interface RegionalOrigins {
  readonly region: string;
  readonly bucket: s3.IBucket;
  readonly api: apigwv2.IHttpApi;
}

export interface GlobalStackProps extends StackProps {
  readonly config: SignetConfig;
  /** The primary region's origins. */
  readonly primary: RegionalOrigins;
  /**
   * The bucket CloudFront fails over to when the primary's answers 5xx or cannot be
   * reached: the first replica region's (docs/cdk.md, "Origin failover").
   * @default - no failover: the primary's bucket alone
   */
  readonly failoverBucket?: { readonly region: string; readonly bucket: s3.IBucket };
  /** The asymmetric KMS key whose public half the key group trusts. */
  readonly cdnSigningKey: kms.IKey;
  /** @default - `routes` of lib/definitions/routes.ts: those declaring bodies above 8 KB get them past the web ACL */
  readonly routes?: readonly RouteDefinition[];
}

/** What makes CloudFront ask the failover bucket instead (besides connection failures and timeouts). */
export const FAILOVER_STATUS_CODES = [500, 502, 503, 504] as const;

/** Bodies above this are blocked by AWS's common rule set (its SizeRestrictions_BODY rule; the figure is fixed). */
export const COMMON_RULE_SET_BODY_LIMIT = 8 * 1024;

/**
 * WAF logs to CloudWatch Logs only into a log group whose name starts with `aws-waf-logs-`.
 * Fixed: a generated name could not carry the prefix.
 */
export const WAF_LOG_GROUP_NAME = 'aws-waf-logs-signet';

/**
 * What the WAF log leaves out: the agents' bearer token (`Authorization`) and the query
 * string, which on `/targets/*` is a CloudFront signed URL (a download credential until it
 * expires). WAF logs no bodies, so license keys (JSON bodies) never reach the log.
 */
export const WAF_REDACTED_HEADERS = ['authorization'] as const;

/** The requests the WAF log keeps: those a rule blocked or counted; allowed ones are dropped. */
export const WAF_LOGGED_ACTIONS = ['BLOCK', 'COUNT', 'EXCLUDED_AS_COUNT'] as const;

/**
 * The anonymous-IP list's rule that only counts: hosting providers and clouds are where
 * site mirrors (`signet mirror serve`) and agents on servers run, legitimately.
 */
export const ANONYMOUS_IP_COUNT_ONLY = 'HostingProviderIPList';

/** The label the common rule set puts on a request whose body is above that, whatever the rule's action. */
export const BODY_SIZE_LABEL = 'awswaf:managed:aws:core-rule-set:SizeRestrictions_Body';

/**
 * The public routes whose definition allows bodies above COMMON_RULE_SET_BODY_LIMIT: the
 * only ones the web ACL lets them through to. Not the admin (IAM) routes: their callers
 * (CI, operators) sign for the API's own endpoint, and a SigV4 signature does not survive
 * CloudFront's host, so through the CDN they could only ever be refused; no reason to let
 * large bodies reach API Gateway there.
 */
export function largeBodyRoutes(routes: readonly RouteDefinition[]): RouteDefinition[] {
  return routes.filter((r) => r.authorization === 'public' && (r.maxBodyBytes ?? 0) > COMMON_RULE_SET_BODY_LIMIT);
}

/** A route's path as a CloudFront path pattern: each `{param}` segment becomes `*`. */
export function routePathPattern(route: RouteDefinition): string {
  return route.path.replace(/\{[^}]+\}/g, '*');
}

export class GlobalStack extends Stack {
  readonly distribution: cloudfront.Distribution;
  readonly keyGroup: cloudfront.KeyGroup;
  readonly cdnPublicKey: CdnPublicKey;
  readonly webAcl: wafv2.CfnWebACL;
  /** `aws-waf-logs-signet`: every request the web ACL evaluates, `Authorization` and query strings redacted. */
  readonly wafLogs: logs.LogGroup;
  /** The path guard on every behaviour that reads the bucket (lib/cdn/viewer-request.js). */
  readonly pathGuard: cloudfront.Function;
  /** `{ baseUrl, keyPairId }` for the manifest functions, named `config.cdnParameterName`. */
  readonly cdnParameter: ssm.StringParameter;

  constructor(scope: Construct, id: string, props: GlobalStackProps) {
    super(scope, id, props);
    const { config, primary } = props;
    const removalPolicy = config.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.cdnPublicKey = new CdnPublicKey(this, 'CdnPublicKey', {
      signingKey: props.cdnSigningKey,
      logRetention: config.logRetentionDays,
      logRemovalPolicy: removalPolicy,
    });
    this.keyGroup = new cloudfront.KeyGroup(this, 'CdnKeyGroup', {
      comment: 'Signet: signers of /targets/* URLs (the KMS CDN signing key)',
      items: [cloudfront.PublicKey.fromPublicKeyId(this, 'CdnPublicKeyRef', this.cdnPublicKey.publicKeyId)],
    });

    this.webAcl = webAcl(this, config, largeBodyRoutes(props.routes ?? definedRoutes));
    this.wafLogs = wafLogging(this, this.webAcl, config, removalPolicy);
    const logBucket = cloudFrontLogBucket(this, config, removalPolicy);

    // Imported, not the StorageStack's L2: the origin cannot (and must not) edit a bucket
    // policy owned by another stack in another region. StorageStack grants this access, to
    // any distribution of the account (or the pinned one) in every region's bucket.
    const originAccessControl = new cloudfront.S3OriginAccessControl(this, 'SignatureBucketOac', {
      description: 'Signet: CloudFront reads the signature buckets with SigV4',
      signing: cloudfront.Signing.SIGV4_ALWAYS,
    });
    const bucketOrigin = (id: string, regional: { readonly region: string; readonly bucket: s3.IBucket }) =>
      origins.S3BucketOrigin.withOriginAccessControl(s3.Bucket.fromBucketAttributes(this, id, { bucketName: regional.bucket.bucketName, region: regional.region }), {
        originAccessControl,
        originAccessLevels: [cloudfront.AccessLevel.READ],
      });
    const primaryBucketOrigin = bucketOrigin('SignatureBucket', primary);
    // Only 5xx (and an origin that cannot be reached, which CloudFront always fails over on):
    // not 403/404. The replica holds a subset of the primary, so what the primary lacks no
    // replica has, and a probe for a missing key would cost two origin requests.
    const s3Origin: cloudfront.IOrigin = props.failoverBucket
      ? new origins.OriginGroup({
          primaryOrigin: primaryBucketOrigin,
          fallbackOrigin: bucketOrigin('FailoverSignatureBucket', props.failoverBucket),
          fallbackStatusCodes: [...FAILOVER_STATUS_CODES],
        })
      : primaryBucketOrigin;

    // `/v1/*`: with an API domain, its latency-routed name, which resolves to the nearest
    // region whose health check passes (docs/cdk.md, "API domain"); CloudFront connects with
    // that name as SNI and Host (ALL_VIEWER_EXCEPT_HOST_HEADER leaves Host to the origin), so
    // API Gateway finds the custom domain. Without one (a single region), the primary's
    // execute-api host.
    const apiHttpOrigin = (domainName: string) =>
      new origins.HttpOrigin(domainName, { protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY, originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2] });
    const apiOrigin = apiHttpOrigin(config.apiDomain?.domainName ?? `${primary.api.apiId}.execute-api.${primary.region}.${this.urlSuffix}`);
    // The public routes that exist in the primary region only (the site mirrors', which move
    // the snapshot): pinned to the primary's own name, ahead of `/v1/*`, or the latency
    // answer could send them to a replica that does not have them.
    const primaryOnlyPublic = config.apiDomain ? (props.routes ?? definedRoutes).filter((r) => r.authorization === 'public' && isPrimaryOnly(r)) : [];
    const primaryApiOrigin = config.apiDomain ? apiHttpOrigin(regionalApiDomainName(config.apiDomain.domainName, primary.region)) : apiOrigin;

    const objectCachePolicy = new cloudfront.CachePolicy(this, 'ObjectCachePolicy', {
      comment: 'Signet objects: the origin Cache-Control rules; signed-URL query strings stay out of the cache key',
      defaultTtl: Duration.minutes(1),
      minTtl: Duration.seconds(0),
      maxTtl: Duration.days(365),
      queryStringBehavior: cloudfront.CacheQueryStringBehavior.none(),
      headerBehavior: cloudfront.CacheHeaderBehavior.none(),
      cookieBehavior: cloudfront.CacheCookieBehavior.none(),
      enableAcceptEncodingGzip: true,
      enableAcceptEncodingBrotli: true,
    });

    // Refuses dot segments and encoded separators before the cache, the signed-URL check
    // or S3 sees a path; the local origin and the mirror run this very source.
    this.pathGuard = new cloudfront.Function(this, 'PathGuard', {
      comment: 'Signet: refuse non-canonical object paths (dot segments, encoded separators)',
      code: cloudfront.FunctionCode.fromInline(viewerRequestSource),
      runtime: cloudfront.FunctionRuntime.JS_2_0,
    });

    const objectBehavior = (signedUrlRequired: boolean): cloudfront.BehaviorOptions => ({
      origin: s3Origin,
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
      allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
      cachedMethods: cloudfront.CachedMethods.CACHE_GET_HEAD,
      cachePolicy: objectCachePolicy,
      responseHeadersPolicy: cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
      compress: true,
      functionAssociations: [{ function: this.pathGuard, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST }],
      ...(signedUrlRequired ? { trustedKeyGroups: [this.keyGroup] } : {}),
    });

    const apiBehavior = (origin: cloudfront.IOrigin): cloudfront.BehaviorOptions => ({
      origin,
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
      allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
      cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
      originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
      responseHeadersPolicy: cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
      // CloudFront compresses only what it caches: CachingDisabled turns it off anyway.
      compress: false,
    });
    // CloudFront tries behaviours in this order: the pinned routes before `/v1/*`.
    const additionalBehaviors: Record<string, cloudfront.BehaviorOptions> = {};
    for (const route of primaryOnlyPublic) additionalBehaviors[routePathPattern(route)] = apiBehavior(primaryApiOrigin);
    additionalBehaviors[apiPathPattern] = apiBehavior(apiOrigin);
    for (const space of pathSpaces) additionalBehaviors[space.pathPattern] = objectBehavior(space.signedUrlRequired);

    const certificate = config.certificateArn ? acm.Certificate.fromCertificateArn(this, 'Certificate', config.certificateArn) : undefined;
    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'Signet update distribution',
      // Deny by default: any other path needs a signed URL, and the bucket policy serves
      // only the published prefixes even to a signed request.
      defaultBehavior: {
        ...objectBehavior(true),
        cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
        compress: false,
      },
      additionalBehaviors,
      ...(certificate && config.domainName
        ? {
            certificate,
            domainNames: [config.domainName],
            minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            sslSupportMethod: cloudfront.SSLMethod.SNI,
          }
        : {}),
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      enableIpv6: true,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_ALL,
      webAclId: this.webAcl.attrArn,
      enableLogging: true,
      logBucket,
      logFilePrefix: 'cloudfront/',
      logIncludesCookies: false,
    });

    acknowledge(this.distribution, {
      id: '@aws-cdk/aws-cloudfront-origins:updateImportedBucketPolicyOac',
      reason: 'The signature bucket policy is written in StorageStack (cloudFrontReadStatement), scoped to the published prefixes',
    });
    acknowledge(this.distribution, {
      id: 'AwsSolutions-CFR1',
      reason: 'Signet serves agents world-wide; who may download is decided per license (API) and per signed URL, not per country',
    });
    if (!certificate) {
      acknowledge(this.distribution, {
        id: 'AwsSolutions-CFR4',
        reason:
          'No custom domain configured: the default *.cloudfront.net certificate fixes the viewer security policy (TLSv1) and cannot be changed; ' +
          'set signet.domainName and signet.certificateArn for TLSv1.2_2021',
      });
    }

    // The manifest functions read this at cold start (lib/aws/cloud-cdn.ts). They cannot
    // take the domain and key id as environment variables: this stack depends on the API
    // stack (its origin), so the API stack cannot reference anything here. The name is fixed
    // by configuration, and the functions' grant is built from it.
    const cdnParameter: CdnParameter = {
      baseUrl: `https://${config.domainName ?? this.distribution.distributionDomainName}`,
      keyPairId: this.cdnPublicKey.publicKeyId,
    };
    this.cdnParameter = new ssm.StringParameter(this, 'CdnParameter', {
      parameterName: config.cdnParameterName,
      description: 'Signet: the CDN base URL and the Key-Pair-Id of its signed URLs, read by the manifest functions at cold start',
      stringValue: this.toJsonString(cdnParameter),
      tier: ssm.ParameterTier.STANDARD,
    });
    // Each region's functions read it in their own region (docs/cdk.md, "The CDN identity parameter").
    new RegionalParameterCopies(this, 'CdnParameterCopies', {
      parameterName: config.cdnParameterName,
      description: 'Signet: the CDN base URL and the Key-Pair-Id of its signed URLs (a copy of the us-east-1 parameter the global stack writes)',
      value: this.toJsonString(cdnParameter),
      regions: config.regions,
      logRetention: config.logRetentionDays,
      logRemovalPolicy: removalPolicy,
    });

    new CfnOutput(this, 'DistributionId', { value: this.distribution.distributionId, description: 'Set as signet.distributionId to pin the bucket policy' });
    new CfnOutput(this, 'DistributionDomainName', { value: this.distribution.distributionDomainName });
    new CfnOutput(this, 'CdnPublicKeyId', { value: this.cdnPublicKey.publicKeyId, description: 'Key-Pair-Id of signed URLs' });
  }
}

function cloudFrontLogBucket(scope: Construct, config: SignetConfig, removalPolicy: RemovalPolicy): s3.Bucket {
  const bucket = new s3.Bucket(scope, 'CloudFrontLogBucket', {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    // CloudFront standard logs are delivered with an ACL grant, so ACLs must stay enabled.
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
    lifecycleRules: [{ expiration: Duration.days(config.logRetentionDays) }],
    removalPolicy,
  });
  acknowledge(bucket, {
    id: 'AwsSolutions-S1',
    reason: 'This bucket is the CloudFront access-log destination; logging it would need another log bucket, without end',
  });
  return bucket;
}

/**
 * The web ACL's log: a us-east-1 log group (a CLOUDFRONT web ACL logs from there), the
 * resource policy that lets WAF's log delivery write to it for this account only, and the
 * logging configuration with the redactions.
 */
function wafLogging(scope: Stack, acl: wafv2.CfnWebACL, config: SignetConfig, removalPolicy: RemovalPolicy): logs.LogGroup {
  const logGroup = new logs.LogGroup(scope, 'WafLogs', { logGroupName: WAF_LOG_GROUP_NAME, retention: config.logRetentionDays, removalPolicy });
  // WAF wants the log group's ARN without the `:*` that logGroupArn ends with.
  const groupArn = scope.formatArn({ service: 'logs', resource: 'log-group', resourceName: WAF_LOG_GROUP_NAME, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  // WAF would write this policy itself with the deployer's rights; stated here, it is
  // reviewed, scoped to this account, and no deployment depends on those rights.
  const delivery = new logs.ResourcePolicy(scope, 'WafLogsDelivery', {
    policyStatements: [
      new iam.PolicyStatement({
        sid: 'WafLogDelivery',
        principals: [new iam.ServicePrincipal('delivery.logs.amazonaws.com')],
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [`${groupArn}:log-stream:*`],
        conditions: {
          StringEquals: { 'aws:SourceAccount': scope.account },
          ArnLike: { 'aws:SourceArn': scope.formatArn({ service: 'logs', resource: '*', arnFormat: ArnFormat.NO_RESOURCE_NAME }) },
        },
      }),
    ],
  });
  const logging = new wafv2.CfnLoggingConfiguration(scope, 'WafLogging', {
    resourceArn: acl.attrArn,
    logDestinationConfigs: [groupArn],
    redactedFields: [...WAF_REDACTED_HEADERS.map((name) => ({ singleHeader: { Name: name } })), { queryString: {} }],
    // Only decisions: the CloudFront access log already has every request, and a line per
    // metadata poll would cost more than everything else here (docs/cdk.md, "WAF").
    loggingFilter: {
      DefaultBehavior: 'DROP',
      Filters: [
        {
          Behavior: 'KEEP',
          Requirement: 'MEETS_ANY',
          Conditions: WAF_LOGGED_ACTIONS.map((action) => ({ ActionCondition: { Action: action } })),
        },
      ],
    },
  });
  logging.node.addDependency(logGroup, delivery);
  return logGroup;
}

/**
 * CloudFront picks the behaviour on the normalized path (RFC 3986: percent-decoding, dot
 * segments), WAF sees it raw: a rule on the path compares it after these, or /x/../v1/manifest
 * and /%761/manifest would pass it by.
 */
const AS_CLOUDFRONT_ROUTES: wafv2.CfnWebACL.TextTransformationProperty[] = [
  { priority: 0, type: 'URL_DECODE' },
  { priority: 1, type: 'NORMALIZE_PATH' },
];

/** Matches `route`: its method, and its path (`{param}` one segment), whole. */
function routeStatement(route: RouteDefinition): wafv2.CfnWebACL.StatementProperty {
  const path = route.path
    .split('/')
    .map((segment) => (/^\{[^}]+\}$/.test(segment) ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return {
    andStatement: {
      statements: [
        { byteMatchStatement: { fieldToMatch: { method: {} }, positionalConstraint: 'EXACTLY', searchString: route.method, textTransformations: [{ priority: 0, type: 'NONE' }] } },
        { regexMatchStatement: { fieldToMatch: { uriPath: {} }, regexString: `^${path}$`, textTransformations: AS_CLOUDFRONT_ROUTES } },
      ],
    },
  };
}

function webAcl(scope: Construct, config: SignetConfig, largeBodies: readonly RouteDefinition[]): wafv2.CfnWebACL {
  const visibility = (metricName: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
    cloudWatchMetricsEnabled: true,
    sampledRequestsEnabled: true,
    metricName,
  });
  const managed = (name: string, priority: number, ruleActionOverrides?: wafv2.CfnWebACL.RuleActionOverrideProperty[]): wafv2.CfnWebACL.RuleProperty => ({
    name,
    priority,
    overrideAction: { none: {} },
    statement: { managedRuleGroupStatement: { vendorName: 'AWS', name, ...(ruleActionOverrides && { ruleActionOverrides }) } },
    visibilityConfig: visibility(name),
  });
  // Routes that take bodies above 8 KB (a mirror's relayed reports): the common rule set's
  // SizeRestrictions_BODY only counts (and labels), and the next rule blocks what it labelled
  // on every other route. Its other rules still inspect the first 16 KB of every body.
  // Labelled, and not one of those routes: one NOT per route keeps the nesting at four levels.
  const exempt = largeBodies.map((route): wafv2.CfnWebACL.StatementProperty => ({ notStatement: { statement: routeStatement(route) } }));
  const someExempt = exempt.length > 0;
  const bodySizeRules: wafv2.CfnWebACL.RuleProperty[] = someExempt
    ? [
        {
          name: 'BodySizeExceptLargeBodyRoutes',
          priority: 4,
          action: { block: {} },
          statement: {
            andStatement: {
              statements: [{ labelMatchStatement: { scope: 'LABEL', key: BODY_SIZE_LABEL } }, ...exempt],
            },
          },
          visibilityConfig: visibility('signet-body-size'),
        },
      ]
    : [];
  return new wafv2.CfnWebACL(scope, 'WebAcl', {
    scope: 'CLOUDFRONT',
    description: `Signet: a per-IP rate limit on the API, AWS IP reputation and anonymous-IP lists, AWS managed rules${someExempt ? ', bodies over 8 KB only to routes that take them' : ''}`,
    defaultAction: { allow: {} },
    visibilityConfig: visibility('signet-web-acl'),
    rules: [
      {
        // Only the API is rate limited: metadata and targets are served from the edge cache,
        // and thousands of agents behind one corporate NAT poll them legitimately.
        name: 'ApiRateLimitPerIp',
        priority: 0,
        action: { block: {} },
        statement: {
          rateBasedStatement: {
            limit: config.waf.apiRequestsPer5MinutesPerIp,
            evaluationWindowSec: 300,
            aggregateKeyType: 'IP',
            scopeDownStatement: {
              byteMatchStatement: {
                fieldToMatch: { uriPath: {} },
                positionalConstraint: 'STARTS_WITH',
                searchString: apiPathPattern.replace(/\*$/, ''),
                // Without these, /x/../v1/manifest or /%761/manifest would reach the API uncounted.
                textTransformations: AS_CLOUDFRONT_ROUTES,
              },
            },
          },
        },
        visibilityConfig: visibility('signet-api-rate-limit'),
      },
      // Source-address lists next: the cheapest to evaluate, and they end a request before
      // its body is inspected. The hosting-provider rule only counts (ANONYMOUS_IP_COUNT_ONLY).
      managed('AWSManagedRulesAmazonIpReputationList', 1),
      managed('AWSManagedRulesAnonymousIpList', 2, [{ name: ANONYMOUS_IP_COUNT_ONLY, actionToUse: { count: {} } }]),
      managed('AWSManagedRulesCommonRuleSet', 3, someExempt ? [{ name: 'SizeRestrictions_BODY', actionToUse: { count: {} } }] : undefined),
      // After the common rule set: a rule sees only the labels of rules evaluated before it.
      ...bodySizeRules,
      managed('AWSManagedRulesKnownBadInputsRuleSet', 5),
    ],
  });
}
