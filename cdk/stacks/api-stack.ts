/**
 * Stateless compute of one region: the HTTP API and its functions, built from
 * lib/definitions/routes.ts, the schedules of scheduled functions and, in the primary
 * region, the CI publishing role. It takes the storage and the keys as typed props and can
 * be destroyed and redeployed at any time without touching data.
 */
import { CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { FunctionDefinition, RouteDefinition } from '#lib/definitions/routes.ts';
import { declaredVariables, functions as definedFunctions, routeKey, routes as definedRoutes } from '#lib/definitions/routes.ts';
import type { OnlineRole } from '#lib/tuf/online-signers.ts';
import type { SignetConfig } from '../config.ts';
import { PublishingRole } from '../constructs/publishing-role.ts';
import { RegionalApiDomain } from '../constructs/regional-api-domain.ts';
import { SignetFunction } from '../constructs/signet-function.ts';
import type { SharedDeps } from '../constructs/shared-deps-layer.ts';
import { sharedDepsLayer } from '../constructs/shared-deps-layer.ts';
import { acknowledge } from '../nag.ts';
import type { StorageResources } from './storage-stack.ts';

export interface ApiStackProps extends StackProps {
  readonly config: SignetConfig;
  readonly storage: StorageResources;
  /**
   * The TUF online keys of this region (KeysStack in the primary region, its replicas in a
   * replica region), bound to the functions whose definition lists them.
   */
  readonly onlineKeys: Readonly<Record<OnlineRole, kms.IKey>>;
  /**
   * The CDN URL-signing key of this region (the primary key or its replica), bound to the
   * functions whose definition has `cdnSigning`, together with the name of the SSM
   * parameter that tells them the CDN's domain and public-key id (`config.cdnParameterName`,
   * which the global stack writes in every region: they read it in their own).
   */
  readonly cdnSigningKey: kms.IKey;
  /**
   * Whether this is the primary region's API: only it has the `primaryOnly` functions and
   * their routes (releases, repository, admin, mirrors) and the CI publishing role.
   * Repository commits are conditional writes on the global table, and a global table
   * serializes conditional writes only within one region (across regions the last writer
   * wins), so the service commits releases and timestamps in one region. The scheduled
   * refresh runs in the primary region, or in `config.timestampFailoverRegion`.
   * @default true
   */
  readonly isPrimaryRegion?: boolean;
  /** @default - `functions` of lib/definitions/routes.ts */
  readonly functions?: readonly FunctionDefinition[];
  /** @default - `routes` of lib/definitions/routes.ts */
  readonly routes?: readonly RouteDefinition[];
}

/** What the monitoring stack is given of a region's API: typed handles, never names. */
export interface ApiResources {
  readonly api: apigwv2.IHttpApi;
  /** The functions, by definition id. */
  readonly functions: ReadonlyMap<string, SignetFunction>;
  /** EventBridge schedules, by function id (primary region only). */
  readonly schedules: ReadonlyMap<string, events.Rule>;
  /** The `$default` stage's JSON access log (one line per request, with its route key). */
  readonly accessLogs: logs.ILogGroup;
}

export class ApiStack extends Stack implements ApiResources {
  readonly api: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  readonly accessLogs: logs.LogGroup;
  readonly functions: ReadonlyMap<string, SignetFunction>;
  /** EventBridge schedules, by function id (primary region only). */
  readonly schedules: ReadonlyMap<string, events.Rule>;
  /** Present in the primary region when `signet.github` is configured. */
  readonly publishingRole?: PublishingRole;
  /** Present with `signet.apiDomain`: the custom domains, records and health check of this region. */
  readonly domain?: RegionalApiDomain;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { config, storage } = props;
    const isPrimaryRegion = props.isPrimaryRegion ?? true;
    const signsTimestamps = isPrimaryRegion ? config.timestampFailoverRegion === undefined : config.timestampFailoverRegion === this.region;
    const logRemovalPolicy = config.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.api = new apigwv2.HttpApi(this, 'HttpApi', {
      description: isPrimaryRegion ? 'Signet agent and admin API (reached through CloudFront at /v1/*)' : 'Signet agent API, replica region (reached through CloudFront at /v1/*)',
      createDefaultStage: false,
      // With a domain, API Gateway answers on it alone: the execute-api URL would let
      // anyone reach the API without naming the domain (docs/cdk.md, "API domain").
      disableExecuteApiEndpoint: config.apiDomain !== undefined,
    });
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: config.logRetentionDays, removalPolicy: logRemovalPolicy });
    this.accessLogs = accessLogs;
    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: config.api.throttleRateLimit, burstLimit: config.api.throttleBurstLimit },
      accessLogSettings: { destination: new apigwv2.LogGroupLogDestination(accessLogs), format: ACCESS_LOG_FORMAT },
    });

    // A replica region gets the agent functions only: no primaryOnly function (they write the
    // repository or take admin calls), and the scheduled refresh only while it is the
    // timestamp failover region (docs/cdk.md, "Timestamp failover").
    const functions = (props.functions ?? definedFunctions).filter((d) => isPrimaryRegion || (!d.primaryOnly && (!d.scheduled || signsTimestamps)));
    const deployedIds = new Set(functions.map((d) => d.id));
    const routes = (props.routes ?? definedRoutes).filter((r) => isPrimaryRegion || deployedIds.has(r.functionId));
    const shared = sharedDepsLayer(this);
    const created = new Map<string, SignetFunction>();
    const schedules = new Map<string, events.Rule>();
    for (const definition of functions) {
      const fn = this.createFunction(definition, config, storage, props, shared, logRemovalPolicy);
      created.set(definition.id, fn);
      if (definition.scheduled && signsTimestamps) schedules.set(definition.id, this.schedule(definition, config.runtime.timestampRefreshMinutes, fn));
    }
    // Only the region that signs timestamps (the primary, or the failover region) writes to
    // the repository: elsewhere reports do not move the snapshot (docs/cdk.md, "Replica regions").
    const repository = created.get('timestampRefresh');
    for (const definition of functions) {
      if (definition.invokesRepository && signsTimestamps && repository) created.get(definition.id)?.bindRepositoryFunction(repository);
    }
    for (const definition of functions) {
      const fn = created.get(definition.id);
      if (fn) this.checkVariables(definition, fn, signsTimestamps);
    }
    this.functions = created;
    this.schedules = schedules;

    const integrations = new Map<string, HttpLambdaIntegration>();
    for (const route of routes) {
      const fn = created.get(route.functionId);
      if (!fn) throw new Error(`route ${routeKey(route)} refers to unknown function "${route.functionId}"`);
      let integration = integrations.get(route.functionId);
      if (!integration) {
        integration = new HttpLambdaIntegration(`${route.functionId}Integration`, fn.function);
        integrations.set(route.functionId, integration);
      }
      this.addRoute(route, integration);
    }

    if (config.apiDomain) {
      this.domain = new RegionalApiDomain(this, 'Domain', { domain: config.apiDomain, region: this.region, api: this.api, stage: this.stage });
    }
    new CfnOutput(this, 'ApiEndpoint', {
      value: this.domain?.regionalUrl ?? this.api.apiEndpoint,
      description: isPrimaryRegion
        ? "This region's API alone: where signed admin and publishing calls go (agents use CloudFront)"
        : "This region's API alone (agent routes only; admin calls go to the primary region's)",
    });

    if (isPrimaryRegion && config.github) {
      this.publishingRole = new PublishingRole(this, 'PublishingRole', {
        github: config.github,
        api: this.api,
        stageName: this.stage.stageName,
        routes,
        bucket: storage.bucket,
      });
      new CfnOutput(this, 'PublishingRoleArn', {
        value: this.publishingRole.role.roleArn,
        description: `role-to-assume for aws-actions/configure-aws-credentials in ${config.github.repository} (branch ${config.github.branch})`,
      });
    }
  }

  private createFunction(
    definition: FunctionDefinition,
    config: SignetConfig,
    storage: StorageResources,
    keys: Pick<ApiStackProps, 'onlineKeys' | 'cdnSigningKey'>,
    shared: SharedDeps,
    logRemovalPolicy: RemovalPolicy,
  ): SignetFunction {
    const fn = new SignetFunction(this, definition.id, {
      entry: definition.entry,
      description: `Signet ${definition.id}`,
      memorySize: definition.memoryMb,
      timeout: Duration.seconds(definition.timeoutSeconds),
      logRetention: config.logRetentionDays,
      logRemovalPolicy,
      layer: shared.layer,
      externalModules: shared.externalModules,
      settings: { keys: definition.settings, values: config.runtime },
    });
    for (const { table, access } of definition.tables) fn.bindTable(storage.tableFor(table), table, access);
    if (definition.bucket) fn.bindBucket(storage.bucket, definition.bucket);
    for (const role of new Set(definition.signingKeys ?? [])) fn.bindSigningKey(role, keys.onlineKeys[role]);
    if (definition.cdnSigning) {
      fn.bindCdnSigningKey(keys.cdnSigningKey);
      // The global stack writes the parameter in every region: read in-region, it survives another region's loss.
      fn.bindCdnParameter(config.cdnParameterName, this.region);
    }
    if (definition.primaryOnly) fn.bindPrimaryRegion(config.primaryRegion);
    return fn;
  }

  /** What the function reads at init (declaredVariables) is what it is given, no more, no less. */
  private checkVariables(definition: FunctionDefinition, fn: SignetFunction, signsTimestamps: boolean): void {
    const declared = new Set(declaredVariables(definition));
    const set = fn.variablesSet;
    const optional = new Set(signsTimestamps ? [] : ['repositoryFunction']);
    const missing = [...declared].filter((key) => !set.has(key) && !optional.has(key));
    const extra = [...set].filter((key) => !declared.has(key));
    if (missing.length > 0 || extra.length > 0) {
      throw new Error(`${definition.id}: declares ${[...declared].join(', ')} but is given ${[...set].join(', ')} (missing: ${missing.join(', ') || 'none'}; extra: ${extra.join(', ') || 'none'})`);
    }
  }

  /** An EventBridge rule that invokes the function every `minutes` minutes. */
  private schedule(definition: FunctionDefinition, minutes: number, fn: SignetFunction): events.Rule {
    return new events.Rule(this, `${definition.id}Schedule`, {
      description: `Signet: runs ${definition.id} every ${minutes} minute${minutes === 1 ? '' : 's'}`,
      schedule: events.Schedule.rate(Duration.minutes(minutes)),
      // The next run makes up for a missed one: retrying a delivery past one period only piles up.
      targets: [new targets.LambdaFunction(fn.function, { retryAttempts: 2, maxEventAge: Duration.minutes(minutes) })],
    });
  }

  private addRoute(route: RouteDefinition, integration: HttpLambdaIntegration): void {
    const [created] = this.api.addRoutes({
      path: route.path,
      methods: [apigwv2.HttpMethod[route.method]],
      integration,
      ...(route.authorization === 'iam' ? { authorizer: new HttpIamAuthorizer() } : {}),
    });
    if (created && route.authorization === 'public') {
      acknowledge(created, {
        id: 'AwsSolutions-APIG4',
        reason: `${routeKey(route)} is declared "public" in lib/definitions/routes.ts: its callers (agents, health probes) have no AWS identity to sign with, so any check (license key, agent bearer token) is the handler's`,
      });
    }
  }
}

/** JSON access log lines: one per request, the fields an operator filters by. */
const ACCESS_LOG_FORMAT = AccessLogFormat.custom(
  JSON.stringify({
    requestId: '$context.requestId',
    time: '$context.requestTime',
    ip: '$context.identity.sourceIp',
    userAgent: '$context.identity.userAgent',
    caller: '$context.identity.userArn',
    routeKey: '$context.routeKey',
    status: '$context.status',
    responseLength: '$context.responseLength',
    latencyMs: '$context.responseLatency',
    integrationLatencyMs: '$context.integration.latency',
    integrationError: '$context.integrationErrorMessage',
  }),
);
