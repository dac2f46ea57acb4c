import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketEnvVar, pathSpaces } from '#lib/definitions/bucket.ts';
import type { FunctionDefinition, RouteDefinition } from '#lib/definitions/routes.ts';
import { functions, routeKey, routes } from '#lib/definitions/routes.ts';
import { mainTable } from '#lib/definitions/tables.ts';
import { parseConfig } from '../../cdk/config.ts';
import { CREATE_REQUIRE_BANNER, SignetFunction } from '../../cdk/constructs/signet-function.ts';
import { loadSharedDepsModule, SHARED_DEPS_MODULE } from '../../cdk/constructs/shared-deps-layer.ts';
import { ApiStack } from '../../cdk/stacks/api-stack.ts';
import { StorageStack } from '../../cdk/stacks/storage-stack.ts';
import type { CfnTemplate, SynthesizedApp } from './support.ts';
import { contextWith, resourcesOfType, SKIP_BUNDLING, synthSignet } from './support.ts';

let synth: SynthesizedApp;
let api: ApiStack;
let template: Template;
let json: CfnTemplate;

beforeAll(async () => {
  synth = await synthSignet({ bundle: true });
  const primary = synth.stacks.regions[0];
  if (!primary) throw new Error('no primary region');
  api = primary.api;
  template = synth.template(api);
  json = synth.json(api);
});
afterAll(() => synth?.dispose());

function functionLogicalId(id: string): string {
  const fn = api.functions.get(id)?.function;
  if (!fn) throw new Error(`no function ${id}`);
  return api.getLogicalId(fn.node.defaultChild as never);
}

function bundleDir(logicalId: string): string {
  const code = json.Resources[logicalId]?.Properties?.Code as { S3Key: string };
  return path.join(synth.outdir, `asset.${code.S3Key.replace(/\.zip$/, '')}`);
}

describe('ApiStack functions', () => {
  it('creates one function per definition, Node 22 on ARM64', () => {
    template.resourceCountIs('AWS::Lambda::Function', functions.length);
    for (const definition of functions) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: `Signet ${definition.id}`,
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: definition.memoryMb,
        Timeout: definition.timeoutSeconds,
      });
    }
  });

  it('gives each function its own log group with the configured retention', () => {
    for (const definition of functions) {
      const fn = json.Resources[functionLogicalId(definition.id)]?.Properties as { LoggingConfig: { LogGroup: { Ref: string } } };
      const logGroup = json.Resources[fn.LoggingConfig.LogGroup.Ref];
      expect(logGroup).toMatchObject({ Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: 90 }, DeletionPolicy: 'Retain' });
    }
  });

  it('bundles each handler as minified ESM with the createRequire banner and a source map', () => {
    for (const definition of functions) {
      const dir = bundleDir(functionLogicalId(definition.id));
      const bundle = readFileSync(path.join(dir, 'index.mjs'), 'utf8');
      expect(bundle.startsWith(CREATE_REQUIRE_BANNER)).toBe(true);
      expect(bundle).toMatch(/export\s*\{[^}]*as handler\s*\}/);
      // Minified: template literals keep their line breaks, nothing else does.
      expect(bundle.length / bundle.split('\n').length).toBeGreaterThan(1000);
      const map = JSON.parse(readFileSync(path.join(dir, 'index.mjs.map'), 'utf8')) as { sources: string[]; sourcesContent?: unknown };
      expect(map.sources.some((s) => s.endsWith(definition.entry))).toBe(true);
      expect(map.sourcesContent).toBeUndefined();
    }
  });

  it('sets each table env var together with a read or read-write grant on that table', () => {
    for (const definition of functions) {
      const logicalId = functionLogicalId(definition.id);
      const env = (json.Resources[logicalId]?.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables;
      expect(Object.keys(env).sort()).toEqual(
        [...definition.tables.map((t) => t.table.envVar), ...(definition.bucket ? [bucketEnvVar] : []), 'NODE_OPTIONS'].sort(),
      );
      expect(env.NODE_OPTIONS).toBe('--enable-source-maps');
    }
    for (const definition of functions) {
      const policy = JSON.stringify(resourcesOfType(json, 'AWS::IAM::Policy').find(([logicalId]) => logicalId.startsWith(`${definition.id}RoleDefaultPolicy`)));
      expect(policy).toContain('dynamodb:GetItem');
      const writes = definition.tables.some((t) => t.access === 'write');
      expect(/dynamodb:(PutItem|UpdateItem|DeleteItem|BatchWriteItem)/.test(policy), `${definition.id} write grant`).toBe(writes);
    }
  });

  it('writes logs through its own role scoped to its log group, not AWSLambdaBasicExecutionRole', () => {
    for (const [, role] of resourcesOfType(json, 'AWS::IAM::Role')) {
      expect(role.Properties?.ManagedPolicyArns).toBeUndefined();
    }
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          { Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^healthLogGroup'), 'Arn'] } },
        ]),
      },
    });
  });

  it('uses the shared-deps layer, and leaves its packages out of the bundle, exactly when layers/shared-deps/layer.ts exists', async () => {
    const layerModule = await loadSharedDepsModule();
    expect(layerModule !== undefined).toBe(existsSync(new URL(SHARED_DEPS_MODULE)));
    const fn = json.Resources[functionLogicalId('health')]?.Properties as { Layers?: unknown[] };
    if (layerModule) {
      template.resourceCountIs('AWS::Lambda::LayerVersion', 1);
      template.hasResourceProperties('AWS::Lambda::LayerVersion', { CompatibleRuntimes: ['nodejs22.x'], CompatibleArchitectures: ['arm64'] });
      expect(fn.Layers).toHaveLength(1);
      const bundle = readFileSync(path.join(bundleDir(functionLogicalId('health')), 'index.mjs'), 'utf8');
      for (const specifier of layerModule.sharedDepsPackages) expect(bundle).toContain(`from"${specifier}"`);
    } else {
      template.resourceCountIs('AWS::Lambda::LayerVersion', 0);
      expect(fn.Layers).toBeUndefined();
    }
  });
});

describe('ApiStack HTTP API', () => {
  it('has one route per definition, with its route key and authorization', () => {
    const declared = resourcesOfType(json, 'AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties as { RouteKey: string; AuthorizationType: string });
    expect(declared.map((r) => r.RouteKey).sort()).toEqual(routes.map(routeKey).sort());
    for (const route of routes) {
      expect(declared.find((r) => r.RouteKey === routeKey(route))?.AuthorizationType).toBe(route.authorization === 'iam' ? 'AWS_IAM' : 'NONE');
    }
  });

  it('logs every request of the $default stage as JSON and throttles it', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 200, ThrottlingBurstLimit: 400 },
      AccessLogSettings: {
        DestinationArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AccessLogs'), 'Arn'] },
        Format: Match.serializedJson(Match.objectLike({ requestId: '$context.requestId', routeKey: '$context.routeKey', status: '$context.status' })),
      },
    });
  });
});

describe('ApiStack with other definitions', () => {
  // Definitions the repository does not have yet: an IAM-authorized admin route and a
  // function that writes to the bucket, through the same stack code.
  const publisher: FunctionDefinition = {
    id: 'publish',
    entry: 'functions/health/handler.ts',
    memoryMb: 512,
    timeoutSeconds: 10,
    tables: [{ table: mainTable, access: 'write' }],
    bucket: 'write',
  };
  const adminRoute: RouteDefinition = { method: 'POST', path: '/v1/admin/releases', functionId: 'publish', authorization: 'iam' };
  let app: App;
  let stack: ApiStack;
  let other: Template;

  beforeAll(() => {
    app = new App({ context: contextWith({}, SKIP_BUNDLING) });
    const config = parseConfig(app.node.tryGetContext('signet'), {});
    const storage = new StorageStack(app, 'Storage', { env: { region: config.primaryRegion }, config });
    stack = new ApiStack(app, 'Api', { env: { region: config.primaryRegion }, config, storage, functions: [publisher], routes: [adminRoute] });
    other = Template.fromStack(stack);
  });

  it('puts an "iam" route behind the IAM authorizer', () => {
    other.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /v1/admin/releases', AuthorizationType: 'AWS_IAM' });
  });

  it('grants bucket writes under the published prefixes only, with SIGNET_BUCKET set', () => {
    other.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ [bucketEnvVar]: Match.anyValue(), [mainTable.envVar]: Match.anyValue() }) } });
    const statements = Object.values(other.findResources('AWS::IAM::Policy')).flatMap(
      (p) => (p.Properties as { PolicyDocument: { Statement: Array<{ Sid?: string; Action: unknown; Resource: unknown }> } }).PolicyDocument.Statement,
    );
    const bucket = statements.find((s) => s.Sid === 'SignetBucketObjects');
    expect(bucket?.Action).toEqual(['s3:GetObject', 's3:PutObject']);
    expect((bucket?.Resource as unknown[]).map((r) => JSON.stringify(r).match(/"\/([a-z]+\/)\*"/)?.[1])).toEqual(pathSpaces.map((s) => s.prefix));
    expect(JSON.stringify(statements)).toMatch(/dynamodb:PutItem/);
  });

  it('passes cdk-nag: the wildcard findings of its grants are acknowledged one by one', () => {
    app.synth();
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations).toEqual([]);
  });

  it('refuses externalModules without a layer', () => {
    const scope = new Stack(new App(), 'S');
    expect(
      () =>
        new SignetFunction(scope, 'F', {
          entry: 'functions/health/handler.ts',
          description: 'x',
          memorySize: 128,
          timeout: Duration.seconds(3),
          logRetention: 90,
          logRemovalPolicy: RemovalPolicy.DESTROY,
          externalModules: ['@middy/core'],
        }),
    ).toThrow(/without a layer/);
  });

  it('fails on a route whose function is not defined', () => {
    const scopeApp = new App({ context: contextWith({}, SKIP_BUNDLING) });
    const config = parseConfig(scopeApp.node.tryGetContext('signet'), {});
    const storage = new StorageStack(scopeApp, 'Storage', { env: { region: config.primaryRegion }, config });
    expect(
      () => new ApiStack(scopeApp, 'Api', { env: { region: config.primaryRegion }, config, storage, functions: [], routes: [adminRoute] }),
    ).toThrow(/unknown function "publish"/);
  });
});
