/**
 * Stateless compute of one region: the HTTP API and its functions, built from
 * lib/definitions/routes.ts. It takes the storage as typed props and can be destroyed and
 * redeployed at any time without touching data.
 */
import { CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { FunctionDefinition, RouteDefinition } from '#lib/definitions/routes.ts';
import { functions as definedFunctions, routeKey, routes as definedRoutes } from '#lib/definitions/routes.ts';
import type { SignetConfig } from '../config.ts';
import { SignetFunction } from '../constructs/signet-function.ts';
import type { SharedDeps, SharedDepsModule } from '../constructs/shared-deps-layer.ts';
import { sharedDepsLayer } from '../constructs/shared-deps-layer.ts';
import { acknowledge } from '../nag.ts';
import type { StorageResources } from './storage-stack.ts';

export interface ApiStackProps extends StackProps {
  readonly config: SignetConfig;
  readonly storage: StorageResources;
  /** The shared-deps layer module, when the repository has one. @default - no layer */
  readonly sharedDeps?: SharedDepsModule;
  /** @default - `functions` of lib/definitions/routes.ts */
  readonly functions?: readonly FunctionDefinition[];
  /** @default - `routes` of lib/definitions/routes.ts */
  readonly routes?: readonly RouteDefinition[];
}

export class ApiStack extends Stack {
  readonly api: apigwv2.HttpApi;
  readonly functions: ReadonlyMap<string, SignetFunction>;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { config, storage } = props;
    const logRemovalPolicy = config.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.api = new apigwv2.HttpApi(this, 'HttpApi', {
      description: 'Signet agent and admin API (reached through CloudFront at /v1/*)',
      createDefaultStage: false,
    });
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: config.logRetentionDays, removalPolicy: logRemovalPolicy });
    this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: config.api.throttleRateLimit, burstLimit: config.api.throttleBurstLimit },
      accessLogSettings: { destination: new apigwv2.LogGroupLogDestination(accessLogs), format: ACCESS_LOG_FORMAT },
    });

    const functions = props.functions ?? definedFunctions;
    const routes = props.routes ?? definedRoutes;
    const shared = sharedDepsLayer(this, props.sharedDeps);
    const created = new Map<string, SignetFunction>();
    for (const definition of functions) {
      created.set(definition.id, this.createFunction(definition, config, storage, shared, logRemovalPolicy));
    }
    this.functions = created;

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

    new CfnOutput(this, 'ApiEndpoint', { value: this.api.apiEndpoint, description: 'Direct HTTP API endpoint (agents use CloudFront)' });
  }

  private createFunction(
    definition: FunctionDefinition,
    config: SignetConfig,
    storage: StorageResources,
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
      ...(shared.layer ? { layer: shared.layer, externalModules: shared.externalModules } : {}),
    });
    for (const { table, access } of definition.tables) fn.bindTable(storage.tableFor(table), table, access);
    if (definition.bucket) fn.bindBucket(storage.bucket, definition.bucket);
    return fn;
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
