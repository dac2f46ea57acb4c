/**
 * The deployment configuration: one typed object, read once from the cdk.json context
 * key `signet` (overridable per command with `-c signet='{"...": ...}'`), validated, with
 * defaults. A bad value fails synth with a message that names the field.
 */
import * as z from 'zod/mini';
import { en } from 'zod/locales';
import type { RuntimeKey, RuntimeSettings } from '#lib/config.ts';
import { ConfigError as VariableError, defaultRuntimeSettings, parseVariable, runtimeKeys, variables } from '#lib/config.ts';
import { BURST_FACTOR, fleetThrottle } from './fleet.ts';
import { quotaProblems, quotasSchema } from './quotas.ts';

/** CloudFront, its certificates and the WAF web ACL it uses live in this region only. */
export const GLOBAL_REGION = 'us-east-1';

export const CONTEXT_KEY = 'signet';

/** The retention periods CloudWatch Logs accepts (RetentionDays), so a typo fails at synth, not at deploy. */
const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;
export type LogRetentionDays = (typeof RETENTION_DAYS)[number];

/** About 1.5x what a million agents cost with binary patches (docs/cost.md, `npm run cost`: $12,894 a month). */
export const DEFAULT_MONTHLY_BUDGET_USD = 20_000;

const region = z.string().check(z.regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'expected an AWS region such as eu-west-1'));
const dnsName = z.string().check(z.regex(/^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/, 'expected a lower-case DNS name'));
const positiveInt = z.number().check(z.int(), z.positive());

const schema = z.strictObject({
  /** Target account; absent means "the account of the credentials used at deploy time". */
  account: z.optional(z.string().check(z.regex(/^\d{12}$/, 'expected a 12-digit AWS account id'))),
  primaryRegion: z._default(region, 'eu-west-1'),
  /** More regions: table replicas, replica keys and an API serving the agent routes (docs/cdk.md, "Replica regions"). */
  replicaRegions: z._default(z.array(region), []),
  /** Custom domain for CloudFront; needs `certificateArn` (an ACM certificate in us-east-1). */
  domainName: z.optional(dnsName),
  certificateArn: z.optional(
    z.string().check(z.regex(/^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate\/[0-9a-f-]+$/, 'expected an ACM certificate ARN in us-east-1')),
  ),
  /**
   * The API's own domain, required with replica regions: each region's HTTP API answers
   * on `domainName` (Route 53 latency records with health checks, CloudFront's `/v1/*`
   * origin) and on `<region>.<domainName>` (the health checks', and the primary's for
   * signed admin and CI calls); the execute-api endpoints are disabled (docs/cdk.md, "API
   * domain").
   */
  apiDomain: z.optional(
    z.strictObject({
      domainName: dnsName,
      /** The public Route 53 hosted zone the records go in. */
      hostedZoneId: z.string().check(z.regex(/^Z[A-Z0-9]{1,32}$/, 'expected a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ')),
      /** That zone's name: `domainName` must be in it. */
      hostedZoneName: dnsName,
      /**
       * An ACM certificate per region (primary and each replica), in that region, valid for
       * `domainName` and `*.<domainName>`: API Gateway takes a regional certificate only.
       */
      certificateArns: z.record(region, z.string().check(z.regex(/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]+$/, 'expected an ACM certificate ARN'))),
    }),
  ),
  /**
   * Manual failover of the timestamp re-sign (docs/cdk.md, "Timestamp failover"): the first
   * replica region (CloudFront's failover bucket), whose refresh is scheduled instead of the
   * primary's, signing with its replica keys into its own bucket. Absent (the normal state):
   * the primary region signs.
   */
  timestampFailoverRegion: z.optional(region),
  logRetentionDays: z._default(z.literal(RETENTION_DAYS), 90),
  /**
   * `retain` (the default) keeps tables, buckets, keys and logs when a stack is deleted
   * and turns table deletion protection on; `destroy` is for throwaway evaluation stacks.
   */
  removalPolicy: z._default(z.enum(['retain', 'destroy']), 'retain'),
  /**
   * Pins the bucket policy's `AWS:SourceArn` to one distribution. Unknown before the first
   * deploy (the distribution is created after the bucket), so it is optional: see docs/cdk.md.
   */
  distributionId: z.optional(z.string().check(z.regex(/^E[A-Z0-9]{8,20}$/, 'expected a CloudFront distribution id such as E2QWRUHAPOMQZL'))),
  /**
   * How many agents the deployment serves (site mirrors count as the agents behind them
   * only where those agents reach the API themselves). Sizes the API stage's throttle
   * (cdk/fleet.ts) unless `api` sets it.
   */
  fleetSize: z._default(z.number().check(z.int(), z.gte(1), z.lte(1_000_000_000)), 1_000_000),
  /**
   * Account quotas raised for this deployment (cdk/quotas.ts): the synth fails when the
   * fleet's release day needs more than the quotas in force, naming the one to raise.
   */
  quotas: quotasSchema,
  api: z._default(
    z.strictObject({
      /**
       * Steady-state requests per second for the whole stage (API Gateway default-route
       * throttling). Absent: derived from fleetSize and runtime.pollSeconds (cdk/fleet.ts).
       */
      throttleRateLimit: z.optional(positiveInt),
      /** Absent: twice the rate limit. */
      throttleBurstLimit: z.optional(positiveInt),
    }),
    {},
  ),
  waf: z._default(
    z.strictObject({
      /** Requests to `/v1/*` one client IP may make in a 5-minute window before WAF blocks it. */
      apiRequestsPer5MinutesPerIp: z._default(z.number().check(z.int(), z.gte(10), z.lte(2_000_000_000)), 2000),
    }),
    { apiRequestsPer5MinutesPerIp: 2000 },
  ),
  /**
   * Name of the SSM parameter (us-east-1) in which the global stack publishes the CDN's
   * identity, `{ "baseUrl", "keyPairId" }`, for the manifest function to read at cold start.
   * Fixed rather than generated: the API stack must name it without referencing the global
   * stack, which depends on it (docs/cdk.md, "The CDN identity parameter").
   */
  cdnParameterName: z._default(
    z.string().check(z.regex(/^(?!\/(aws|ssm))\/[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+){0,14}$/i, 'expected a fully qualified SSM parameter name such as /signet/cdn (not under /aws or /ssm)')),
    '/signet/cdn',
  ),
  /** Alarm thresholds and where alarm notifications go (MonitoringStack). */
  monitoring: z._default(
    z.strictObject({
      /** Subscribed to each region's alarm topic; absent, subscribe to the AlarmTopicArn output yourself. */
      alarmEmail: z.optional(z.string().check(z.regex(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'expected an e-mail address'))),
      /** The HTTP API's 5xx responses, percent of requests in 5 minutes, that count as failing. */
      api5xxPercent: z._default(z.number().check(z.gt(0), z.lte(100)), 5),
      /** The HTTP API's p99 latency, milliseconds over 5 minutes, that counts as slow. */
      apiLatencyP99Ms: z._default(z.number().check(z.int(), z.gte(100), z.lte(30_000)), 2500),
      /**
       * The account's monthly cost budget in USD: the alarm topic hears of 80% spent and of
       * 100% forecast. The default fits the default fleet (docs/cdk.md, "Cost budget").
       */
      monthlyBudgetUsd: z._default(z.number().check(z.int(), z.gte(1), z.lte(100_000_000)), DEFAULT_MONTHLY_BUDGET_USD),
    }),
    { api5xxPercent: 5, apiLatencyP99Ms: 2500, monthlyBudgetUsd: DEFAULT_MONTHLY_BUDGET_USD },
  ),
  /**
   * The CI pipeline that publishes releases: GitHub Actions runs of `branch` in `repository`
   * may assume the publishing role (OIDC). Without it no publishing role is created.
   */
  /**
   * How the service behaves, the same settings the local stack takes (lib/config.ts declares
   * each, with its default and bounds): pollSeconds, grantLifetimeSeconds, the rate limits
   * (registration/manifest/reports PerMinute and Burst), haltFailureRate, haltMinReports,
   * timestampExpiryHours; and timestampRefreshMinutes, the schedule of the timestamp refresh.
   * Each function gets as environment variables exactly the ones it reads.
   */
  runtime: z._default(z.record(z.string(), z.number()), {}),
  github: z.optional(
    z.strictObject({
      repository: z.string().check(z.regex(/^[\w.-]+\/[\w.-]+$/, 'expected owner/name')),
      /** No wildcards: the trust policy compares the token's `sub` with StringEquals. */
      branch: z._default(z.string().check(z.regex(/^[\w.-]+(\/[\w.-]+)*$/, 'expected a branch name without wildcards')), 'main'),
      /**
       * The account's existing IAM OIDC provider for token.actions.githubusercontent.com (an
       * account holds one per URL); absent, the API stack of the primary region creates it.
       */
      oidcProviderArn: z.optional(
        z.string().check(
          z.regex(/^arn:aws[a-z-]*:iam::\d{12}:oidc-provider\/token\.actions\.githubusercontent\.com$/, 'expected the ARN of an IAM OIDC provider for token.actions.githubusercontent.com'),
        ),
      ),
    }),
  ),
});

type Parsed = z.infer<typeof schema>;

export type ApiDomainConfig = NonNullable<Parsed['apiDomain']>;

/** The `runtime` block with every default filled in. */
export interface DeployedRuntime extends RuntimeSettings {
  /** How often the scheduled refresh re-signs timestamp.json. */
  readonly timestampRefreshMinutes: number;
}

export const DEFAULT_TIMESTAMP_REFRESH_MINUTES = 60;

/** The `$default` stage's throttle, requests per second. */
export interface ApiThrottle {
  readonly throttleRateLimit: number;
  readonly throttleBurstLimit: number;
}

export interface SignetConfig extends Omit<Parsed, 'runtime' | 'api'> {
  readonly runtime: DeployedRuntime;
  /** Resolved: set in `api`, or derived from fleetSize and runtime.pollSeconds. */
  readonly api: ApiThrottle;
  readonly globalRegion: typeof GLOBAL_REGION;
  /** `[primaryRegion, ...replicaRegions]`: where storage and API stacks are deployed. */
  readonly regions: readonly string[];
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Validates the raw `signet` context value. `env` supplies `CDK_DEFAULT_ACCOUNT` (set by
 * the CDK CLI when it finds credentials) when the context names no account.
 */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): SignetConfig {
  const result = schema.safeParse(fromCommandLine(raw) ?? {}, { error: en().localeError });
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const field = [CONTEXT_KEY, ...issue.path.map(String)].join('.');
      return `  ${field}: ${issue.message}`;
    });
    throw new ConfigError(`invalid cdk.json context "${CONTEXT_KEY}":\n${problems.join('\n')}`);
  }
  const parsed = result.data;
  const problems: string[] = [];
  if ((parsed.domainName === undefined) !== (parsed.certificateArn === undefined)) {
    problems.push(`  ${CONTEXT_KEY}.certificateArn: domainName and certificateArn go together (set both or neither)`);
  }
  const regions = [parsed.primaryRegion, ...parsed.replicaRegions];
  if (new Set(regions).size !== regions.length) {
    problems.push(`  ${CONTEXT_KEY}.replicaRegions: must not repeat a region or contain primaryRegion (${regions.join(', ')})`);
  }
  checkApiDomain(parsed, regions, problems);
  // CloudFront fails over to the first replica region's bucket only: a timestamp re-signed
  // into any other region's bucket would never reach an agent.
  if (parsed.timestampFailoverRegion !== undefined && parsed.timestampFailoverRegion !== parsed.replicaRegions[0]) {
    problems.push(
      `  ${CONTEXT_KEY}.timestampFailoverRegion: must be the first of replicaRegions (${parsed.replicaRegions[0] ?? 'none'}), whose bucket CloudFront fails over to; got ${parsed.timestampFailoverRegion}`,
    );
  }
  const runtime = parseRuntime(parsed.runtime, problems);
  const api = stageThrottle(parsed, runtime);
  problems.push(...quotaProblems({ fleetSize: parsed.fleetSize, pollSeconds: runtime.pollSeconds, stageRate: api.throttleRateLimit, raised: parsed.quotas, field: CONTEXT_KEY }));
  if (api.throttleBurstLimit < api.throttleRateLimit) {
    problems.push(`  ${CONTEXT_KEY}.api.throttleBurstLimit: must be at least throttleRateLimit (${api.throttleRateLimit}${parsed.api.throttleRateLimit === undefined ? ', derived from fleetSize' : ''})`);
  }
  if (problems.length > 0) {
    throw new ConfigError(`invalid cdk.json context "${CONTEXT_KEY}":\n${problems.join('\n')}`);
  }
  const account = parsed.account ?? nonEmpty(env.CDK_DEFAULT_ACCOUNT);
  return { ...parsed, api, runtime, account, globalRegion: GLOBAL_REGION, regions };
}

/**
 * A replica that no request reaches is what issue 15 was about: with replica regions the
 * API needs its own domain (latency routing), and that domain a certificate in each region.
 */
function checkApiDomain(parsed: Parsed, regions: readonly string[], problems: string[]): void {
  const field = `  ${CONTEXT_KEY}.apiDomain`;
  const domain = parsed.apiDomain;
  if (domain === undefined) {
    if (parsed.replicaRegions.length > 0) {
      problems.push(`${field}: required with replicaRegions: without it CloudFront reaches the primary region's API only, and no request reaches a replica (domainName, hostedZoneId, hostedZoneName, certificateArns)`);
    }
    return;
  }
  if (domain.domainName !== domain.hostedZoneName && !domain.domainName.endsWith(`.${domain.hostedZoneName}`)) {
    problems.push(`${field}.domainName: ${domain.domainName} is not in the hosted zone ${domain.hostedZoneName}`);
  }
  if (parsed.domainName !== undefined && domain.domainName === parsed.domainName) {
    problems.push(`${field}.domainName: must differ from domainName (CloudFront's), which agents use`);
  }
  for (const r of regions) {
    const arn = domain.certificateArns[r];
    if (arn === undefined) problems.push(`${field}.certificateArns.${r}: missing: API Gateway needs a certificate in each region of the API`);
    else if (arn.split(':')[3] !== r) problems.push(`${field}.certificateArns.${r}: the certificate is in ${arn.split(':')[3]}, not ${r}`);
  }
  for (const r of Object.keys(domain.certificateArns)) {
    if (!regions.includes(r)) problems.push(`${field}.certificateArns.${r}: not a region of this deployment (${regions.join(', ')})`);
  }
}

/** `<region>.<apiDomain>`: one region's API alone, for its health check and (the primary's) signed admin calls. */
export function regionalApiDomainName(domainName: string, region: string): string {
  return `${region}.${domainName}`;
}

/** The region whose timestamp refresh is scheduled: the primary's, unless failed over. */
export function timestampSignerRegion(config: Pick<SignetConfig, 'primaryRegion' | 'timestampFailoverRegion'>): string {
  return config.timestampFailoverRegion ?? config.primaryRegion;
}

/** The stage throttle: what `api` sets, the rest derived from the fleet (cdk/fleet.ts). */
function stageThrottle(parsed: Parsed, runtime: DeployedRuntime): ApiThrottle {
  const derived = fleetThrottle(parsed.fleetSize, runtime.pollSeconds);
  const throttleRateLimit = parsed.api.throttleRateLimit ?? derived.rateLimit;
  return { throttleRateLimit, throttleBurstLimit: parsed.api.throttleBurstLimit ?? BURST_FACTOR * throttleRateLimit };
}

/** The runtime block, checked by the same rules the functions apply to their variables; problems are appended. */
function parseRuntime(raw: Record<string, number>, problems: string[]): DeployedRuntime {
  const settings: Record<string, number> = { ...(defaultRuntimeSettings() as unknown as Record<string, number>), timestampRefreshMinutes: DEFAULT_TIMESTAMP_REFRESH_MINUTES };
  for (const [key, value] of Object.entries(raw)) {
    const field = `  ${CONTEXT_KEY}.runtime.${key}`;
    if (key === 'timestampRefreshMinutes') {
      if (!Number.isInteger(value) || value < 1 || value > 24 * 60) problems.push(`${field}: must be a whole number of minutes from 1 to 1440`);
      else settings[key] = value;
    } else if (!(runtimeKeys as readonly string[]).includes(key)) {
      problems.push(`${field}: is not a runtime setting (known: ${[...runtimeKeys, 'timestampRefreshMinutes'].join(', ')})`);
    } else {
      try {
        settings[key] = parseVariable(key as RuntimeKey, String(value)) as number;
      } catch (error) {
        if (!(error instanceof VariableError)) throw error;
        problems.push(`${field}: ${error.message.replace(variables[key as RuntimeKey].name, key)}`);
      }
    }
  }
  // Two missed refreshes in a row must not let the timestamp expire under the agents.
  const expiryMinutes = (settings.timestampExpiryHours ?? 0) * 60;
  const refreshMinutes = settings.timestampRefreshMinutes ?? DEFAULT_TIMESTAMP_REFRESH_MINUTES;
  if (expiryMinutes < 3 * refreshMinutes) {
    problems.push(`  ${CONTEXT_KEY}.runtime.timestampExpiryHours: must be at least 3 refresh periods (${(3 * refreshMinutes) / 60} h with timestampRefreshMinutes ${refreshMinutes})`);
  }
  return settings as unknown as DeployedRuntime;
}

/** `cdk synth -c signet='{...}'` hands the value over as a string. */
function fromCommandLine(raw: unknown): unknown {
  if (typeof raw !== 'string') return raw;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw new ConfigError(`invalid cdk.json context "${CONTEXT_KEY}": -c ${CONTEXT_KEY}=... must be a JSON object`);
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
