import { readFileSync } from 'node:fs';
import path from 'node:path';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stagingPrefix } from '#lib/definitions/bucket.ts';
import { defaultRuntimeSettings, variables } from '#lib/config.ts';
import type { FunctionDefinition, RouteDefinition } from '#lib/definitions/routes.ts';
import { declaredVariables, functions, routeKey, routes } from '#lib/definitions/routes.ts';
import { DEFAULT_TIMESTAMP_REFRESH_MINUTES } from '../../cdk/config.ts';
import { mainTable } from '#lib/definitions/tables.ts';
const onlineKeyEnv = { snapshot: variables.snapshotKmsKey.name, timestamp: variables.timestampKmsKey.name };
const cdnVariables = { kmsKey: variables.cdnKmsKey.name, parameter: variables.cdnParameter.name, parameterRegion: variables.cdnParameterRegion.name };
const bucketEnvVar = variables.bucket.name;
import { sharedDepsPackages } from '../../layers/shared-deps/packages.ts';
import { parseConfig } from '../../cdk/config.ts';
import { CREATE_REQUIRE_BANNER, SignetFunction } from '../../cdk/constructs/signet-function.ts';
import { ApiStack } from '../../cdk/stacks/api-stack.ts';
import { KeysStack } from '../../cdk/stacks/keys-stack.ts';
import { StorageStack } from '../../cdk/stacks/storage-stack.ts';
import type { CfnTemplate, SynthesizedApp } from './support.ts';
import { actionsOf, contextWith, policyStatements, resourcesOfType, SKIP_BUNDLING, synthSignet } from './support.ts';

let synth: SynthesizedApp;
let api: ApiStack;
let template: Template;
let json: CfnTemplate;

beforeAll(() => {
  synth = synthSignet({ bundle: true });
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

function environmentOf(id: string): Record<string, unknown> {
  return (json.Resources[functionLogicalId(id)]?.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables;
}

/** The statements of one function's role policy. */
function statementsOf(id: string) {
  const fn = api.functions.get(id);
  if (!fn) throw new Error(`no function ${id}`);
  return policyStatements(json, api.getLogicalId(fn.role.node.findChild('DefaultPolicy').node.defaultChild as never));
}

/** A weak cross-stack reference to an output of `stackName` whose name mentions `resource`. */
function stackOutput(stackName: string, resource: string) {
  return { 'Fn::GetStackOutput': { StackName: stackName, Region: 'eu-west-1', OutputName: expect.stringContaining(resource) } };
}

const KEYS_STACK = 'Signet-Keys-eu-west-1';
const STORAGE_STACK = 'Signet-Storage-eu-west-1';
const ONLINE_KEY_IDS = { snapshot: 'TufSnapshotKey', timestamp: 'TufTimestampKey' } as const;

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

  it('leaves no function of any stack without a log group of its own that expires', () => {
    const stacks = synth.app.node.children.filter((c): c is Stack => Stack.isStack(c));
    let checked = 0;
    for (const stack of stacks) {
      const stackJson = synth.json(stack);
      const functionsOfStack = resourcesOfType(stackJson, 'AWS::Lambda::Function');
      const groups = functionsOfStack.map(([id, fn]) => {
        const ref = (fn.Properties?.LoggingConfig as { LogGroup?: { Ref?: string } } | undefined)?.LogGroup?.Ref;
        expect(ref, `${stack.stackName}/${id} has no log group`).toBeDefined();
        const group = stackJson.Resources[ref ?? ''];
        expect(group?.Type, `${stack.stackName}/${id}`).toBe('AWS::Logs::LogGroup');
        expect(group?.Properties?.RetentionInDays, `${stack.stackName}/${id}`).toBe(90);
        checked++;
        return ref;
      });
      expect(new Set(groups).size, `${stack.stackName}: functions share a log group`).toBe(groups.length);
    }
    // The API's, the CDN custom resource's handler and provider, the function that copies the CDN
    // parameter to eu-west-1, and the monitoring stack's timestamp check (one region here).
    expect(checked).toBe(functions.length + 3 + 1);
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

  it('gives each function exactly the variables it reads (declaredVariables, lib/config.ts): its tables, bucket, keys and runtime settings', () => {
    for (const definition of functions) {
      const env = environmentOf(definition.id);
      expect(Object.keys(env).sort(), definition.id).toEqual([...declaredVariables(definition).map((key) => variables[key].name), 'NODE_OPTIONS'].sort());
      expect(env.NODE_OPTIONS).toBe('--enable-source-maps');
      expect(env[variables.mainTable.name]).toBeDefined();
      if (definition.bucket) expect(env[bucketEnvVar]).toEqual(stackOutput(STORAGE_STACK, 'RefSignatureBucket'));
      // Runtime settings: the deployment's runtime block, here all defaults.
      for (const key of definition.settings) expect(env[variables[key].name], `${definition.id} ${key}`).toBe(String(defaultRuntimeSettings()[key]));
    }
  });

  it('grants each function read or read-write on its tables, as defined', () => {
    for (const definition of functions) {
      const policy = JSON.stringify(statementsOf(definition.id));
      expect(policy).toContain('dynamodb:GetItem');
      const writes = definition.tables.some((t) => t.access === 'write');
      expect(/dynamodb:(PutItem|UpdateItem|DeleteItem|BatchWriteItem)/.test(policy), `${definition.id} write grant`).toBe(writes);
    }
  });

  describe.each(functions.map((f) => [f.id, f] as const))('function %s and the TUF online keys', (id, definition) => {
    const roles = definition.signingKeys ?? [];

    it(`sets ${roles.length ? roles.map((r) => onlineKeyEnv[r]).join(', ') : 'no key variable'} to the ARN of the matching KMS key of the keys stack`, () => {
      const env = environmentOf(id);
      for (const role of roles) expect(env[onlineKeyEnv[role]]).toEqual(stackOutput(KEYS_STACK, `${ONLINE_KEY_IDS[role]}`));
      for (const variable of Object.values(onlineKeyEnv)) if (!roles.some((r) => onlineKeyEnv[r] === variable)) expect(env[variable]).toBeUndefined();
    });

    it(`may ${roles.length ? 'kms:Sign and kms:GetPublicKey on exactly those keys, nothing else of KMS' : 'use no KMS action at all'}`, () => {
      const kms = statementsOf(id).filter((s) => s.Sid !== 'SignCdnGrants' && [s.Action].flat().some((a) => a.startsWith('kms:')));
      expect(kms).toHaveLength(roles.length);
      for (const statement of kms) {
        expect([statement.Action].flat().sort()).toEqual(['kms:GetPublicKey', 'kms:Sign']);
        expect(statement.Effect).toBe('Allow');
        expect(statement.Resource).not.toBe('*');
        expect(statement.Condition).toBeUndefined();
      }
      expect(kms.map((s) => s.Resource)).toEqual(roles.map((role) => stackOutput(KEYS_STACK, `FnGetAtt${ONLINE_KEY_IDS[role]}`)));
    });
  });

  describe.each(functions.map((f) => [f.id, f] as const))('function %s and the signature bucket', (id, definition) => {
    const bucketArn = stackOutput(STORAGE_STACK, 'FnGetAttSignatureBucket');
    const objects = (prefix: string) => ({ 'Fn::Join': ['', [bucketArn, `/${prefix}*`]] });

    it(`gets ${definition.bucket ?? 'no'} access${definition.bucket === 'write' ? ': Get/Put metadata and staging, Get targets, ListBucket for honest 404s, no delete' : ''}`, () => {
      const s3 = statementsOf(id).filter((s) => [s.Action].flat().some((a) => a.startsWith('s3:')));
      if (definition.bucket === undefined) {
        expect(s3).toEqual([]);
        return;
      }
      const expected =
        definition.bucket === 'write'
          ? [
              { Sid: 'SignetMetadataReadWrite', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: objects('metadata/') },
              { Sid: 'SignetStagingReadWrite', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: objects(stagingPrefix) },
              { Sid: 'SignetTargetsRead', Effect: 'Allow', Action: 's3:GetObject', Resource: objects('targets/') },
              { Sid: 'SignetBucketMissingKeys', Effect: 'Allow', Action: 's3:ListBucket', Resource: bucketArn },
            ]
          : [{ Sid: 'SignetPublishedRead', Effect: 'Allow', Action: 's3:GetObject', Resource: [objects('metadata/'), objects('targets/')] }];
      expect(s3).toEqual(expected);
      expect(actionsOf(s3).some((a) => /Delete|\*/.test(a))).toBe(false);
    });
  });

  describe.each(functions.map((f) => [f.id, f] as const))('function %s and CDN signing', (id, definition) => {
    const signs = definition.cdnSigning === true;

    it(signs ? `sets ${cdnVariables.kmsKey} to the CDN key and names the CDN parameter in its own region (the global stack copies it there)` : 'has no CDN variable', () => {
      const env = environmentOf(id);
      if (!signs) {
        for (const variable of Object.values(cdnVariables)) expect(env[variable], variable).toBeUndefined();
        return;
      }
      expect(env[cdnVariables.kmsKey]).toEqual(stackOutput(KEYS_STACK, 'FnGetAttCdnSigningKey'));
      expect(env[cdnVariables.parameter]).toBe('/signet/cdn');
      expect(env[cdnVariables.parameterRegion]).toBe('eu-west-1');
    });

    it(signs ? 'may kms:Sign with the CDN key and ssm:GetParameter the CDN parameter, exactly' : 'may neither sign with the CDN key nor read SSM', () => {
      const statements = statementsOf(id);
      const cdn = statements.filter((s) => s.Sid === 'SignCdnGrants' || s.Sid === 'ReadCdnParameter' || actionsOf([s]).some((a) => a.startsWith('ssm:')));
      if (!signs) {
        expect(cdn).toEqual([]);
        expect(JSON.stringify(statements)).not.toContain('CdnSigningKey');
        return;
      }
      expect(cdn).toEqual([
        { Sid: 'SignCdnGrants', Effect: 'Allow', Action: 'kms:Sign', Resource: stackOutput(KEYS_STACK, 'FnGetAttCdnSigningKey') },
        {
          Sid: 'ReadCdnParameter',
          Effect: 'Allow',
          Action: 'ssm:GetParameter',
          Resource: { 'Fn::Join': ['', ['arn:aws:ssm:eu-west-1:', { Ref: 'AWS::AccountId' }, ':parameter/signet/cdn']] },
        },
      ]);
    });
  });

  it('has CDN-signing functions to test (manifest, mirrors)', () => {
    expect(functions.filter((f) => f.cdnSigning).map((f) => f.id)).toEqual(['manifest', 'mirrors']);
  });

  it('reaches the CDN parameter by a name-built ARN, never by a reference to the global stack (which depends on this one)', () => {
    expect(JSON.stringify(json)).not.toContain('Signet-Global');
    const deps = synth.assembly.getStackByName(api.stackName).dependencies.map((d) => d.id);
    expect(deps).not.toContain('Signet-Global-us-east-1');
    expect(synth.assembly.getStackByName('Signet-Global-us-east-1').dependencies.map((d) => d.id)).toContain(api.stackName);
  });

  it('writes logs through its own role scoped to its log group, not AWSLambdaBasicExecutionRole', () => {
    for (const [, role] of resourcesOfType(json, 'AWS::IAM::Role')) {
      expect(role.Properties?.ManagedPolicyArns).toBeUndefined();
    }
    for (const definition of functions) {
      expect(statementsOf(definition.id)).toContainEqual({
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [expect.stringMatching(new RegExp(`^${definition.id}LogGroup`)), 'Arn'] },
      });
    }
  });

  it('uses the shared-deps layer in every function, and leaves its packages out of the bundle', () => {
    const [[layerId]] = resourcesOfType(json, 'AWS::Lambda::LayerVersion') as [[string, unknown]];
    template.resourceCountIs('AWS::Lambda::LayerVersion', 1);
    template.hasResourceProperties('AWS::Lambda::LayerVersion', { CompatibleRuntimes: ['nodejs22.x'], CompatibleArchitectures: ['arm64'] });
    for (const definition of functions) {
      expect((json.Resources[functionLogicalId(definition.id)]?.Properties as { Layers?: unknown[] }).Layers).toEqual([{ Ref: layerId }]);
    }
    const bundle = readFileSync(path.join(bundleDir(functionLogicalId('health')), 'index.mjs'), 'utf8');
    for (const specifier of sharedDepsPackages) expect(bundle).toContain(`from"${specifier}"`);
  });
});

describe('ApiStack schedules', () => {
  const scheduled = functions.filter((f) => f.scheduled);

  it('has scheduled functions to test (timestampRefresh)', () => {
    expect(scheduled.map((f) => f.id)).toContain('timestampRefresh');
  });

  it('runs one EventBridge rule per scheduled function, every timestampRefreshMinutes (default), with bounded retries', () => {
    template.resourceCountIs('AWS::Events::Rule', scheduled.length);
    for (const definition of scheduled) {
      const minutes: number = DEFAULT_TIMESTAMP_REFRESH_MINUTES;
      const rate = minutes % 60 === 0 ? `rate(${minutes / 60} hour${minutes === 60 ? '' : 's'})` : `rate(${minutes} minute${minutes === 1 ? '' : 's'})`;
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: rate,
        State: 'ENABLED',
        Targets: [
          {
            Arn: { 'Fn::GetAtt': [functionLogicalId(definition.id), 'Arn'] },
            Id: Match.anyValue(),
            RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: minutes * 60 },
          },
        ],
      });
    }
  });

  it('lets EventBridge invoke a scheduled function from its rule only', () => {
    for (const definition of scheduled) {
      const permissions = resourcesOfType(json, 'AWS::Lambda::Permission').filter(
        ([, p]) => JSON.stringify(p.Properties?.FunctionName) === JSON.stringify({ 'Fn::GetAtt': [functionLogicalId(definition.id), 'Arn'] }),
      );
      const ruleId = api.getLogicalId(api.schedules.get(definition.id)?.node.defaultChild as never);
      expect(permissions.map(([, p]) => p.Properties)).toEqual([
        { Action: 'lambda:InvokeFunction', FunctionName: { 'Fn::GetAtt': [functionLogicalId(definition.id), 'Arn'] }, Principal: 'events.amazonaws.com', SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] } },
      ]);
    }
  });

  it('gives a scheduled-only function no route and no API integration', () => {
    for (const definition of scheduled.filter((f) => !routes.some((r) => r.functionId === f.id))) {
      const integrations = resourcesOfType(json, 'AWS::ApiGatewayV2::Integration').filter(([, i]) => JSON.stringify(i.Properties).includes(functionLogicalId(definition.id)));
      expect(integrations, definition.id).toEqual([]);
      expect(JSON.stringify(resourcesOfType(json, 'AWS::ApiGatewayV2::Route'))).not.toContain(definition.id);
    }
  });
});

describe('ApiStack HTTP API', () => {
  it('has one route per definition, with its route key', () => {
    const declared = resourcesOfType(json, 'AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties as { RouteKey: string });
    expect(declared.map((r) => r.RouteKey).sort()).toEqual(routes.map(routeKey).sort());
  });

  it.each(routes.map((r) => [routeKey(r), r.authorization] as const))('%s: %s', (key, authorization) => {
    const [route] = resourcesOfType(json, 'AWS::ApiGatewayV2::Route')
      .map(([, r]) => r.Properties as { RouteKey: string; AuthorizationType: string; AuthorizerId?: unknown })
      .filter((r) => r.RouteKey === key);
    if (authorization === 'iam') {
      expect(route?.AuthorizationType).toBe('AWS_IAM');
    } else {
      expect(route?.AuthorizationType).toBe('NONE');
    }
    expect(route?.AuthorizerId).toBeUndefined();
  });

  it('logs every request of the $default stage as JSON and throttles it', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      // cdk.json's fleet (the default, a million agents, polling every 900 s): fleetThrottle.
      DefaultRouteSettings: { ThrottlingRateLimit: 2900, ThrottlingBurstLimit: 5800 },
      AccessLogSettings: {
        DestinationArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AccessLogs'), 'Arn'] },
        Format: Match.serializedJson(Match.objectLike({ requestId: '$context.requestId', routeKey: '$context.routeKey', status: '$context.status' })),
      },
    });
  });

  describe('stage throttle sized from the fleet (docs/delivery.md, "A release to a million agents")', () => {
    const stageThrottle = (t: CfnTemplate) => {
      const [[, stage] = []] = resourcesOfType(t, 'AWS::ApiGatewayV2::Stage');
      return (stage?.Properties as { DefaultRouteSettings: { ThrottlingRateLimit: number; ThrottlingBurstLimit: number } }).DefaultRouteSettings;
    };
    /** Manifest and report requests per second after a release: every agent once each within one poll interval. */
    const peak = (agents: number, pollSeconds: number) => (2 * agents) / pollSeconds;

    it('admits at least the peak after a release of the default fleet, with the burst above the rate', () => {
      expect(synth.config.fleetSize).toBe(1_000_000);
      expect(synth.config.runtime.pollSeconds).toBe(900);
      const { ThrottlingRateLimit, ThrottlingBurstLimit } = stageThrottle(json);
      expect(peak(1_000_000, 900)).toBeCloseTo(2222.2, 1);
      expect(ThrottlingRateLimit).toBeGreaterThanOrEqual(peak(1_000_000, 900) * 1.3);
      expect(ThrottlingBurstLimit).toBeGreaterThanOrEqual(ThrottlingRateLimit);
    });

    it('throttles a ten times smaller fleet lower, still above its own peak', () => {
      const small = synthSignet({ signet: { fleetSize: 100_000 } });
      try {
        const primary = small.stacks.regions[0];
        if (!primary) throw new Error('no primary region');
        const smaller = stageThrottle(small.json(primary.api));
        expect(smaller.ThrottlingRateLimit).toBeLessThan(stageThrottle(json).ThrottlingRateLimit);
        expect(smaller.ThrottlingBurstLimit).toBeLessThan(stageThrottle(json).ThrottlingBurstLimit);
        expect(smaller.ThrottlingRateLimit).toBeGreaterThanOrEqual(peak(100_000, 900));
        expect(smaller).toEqual({ ThrottlingRateLimit: 300, ThrottlingBurstLimit: 600 });
      } finally {
        small.dispose();
      }
    });
  });

  it('outputs the direct API endpoint, where SigV4-signed admin calls go', () => {
    template.hasOutput('ApiEndpoint', { Value: { 'Fn::GetAtt': [api.getLogicalId(api.api.node.defaultChild as never), 'ApiEndpoint'] } });
  });
});

describe('ApiStack with other definitions', () => {
  // Definitions the repository does not have: a function that reads the bucket and signs
  // timestamps every 5 minutes, an IAM route to it, through the same stack code.
  const signer: FunctionDefinition = {
    id: 'sign',
    entry: 'functions/health/index.ts',
    memoryMb: 512,
    timeoutSeconds: 10,
    tables: [{ table: mainTable, access: 'read' }],
    bucket: 'read',
    signingKeys: ['timestamp', 'timestamp'],
    scheduled: true,
    settings: ['timestampExpiryHours'],
  };
  const everyFiveMinutes = { runtime: { timestampRefreshMinutes: 5 } };
  const adminRoute: RouteDefinition = { method: 'POST', path: '/v1/admin/sign', functionId: 'sign', authorization: 'iam' };

  function build(options: { functions?: FunctionDefinition[]; isPrimaryRegion?: boolean; routes?: RouteDefinition[]; signet?: Record<string, unknown> } = {}) {
    const app = new App({ context: contextWith(options.signet ?? {}, SKIP_BUNDLING) });
    const config = parseConfig(app.node.tryGetContext('signet'), {});
    const env = { region: config.primaryRegion };
    const keys = new KeysStack(app, 'Keys', { env, config });
    const storage = new StorageStack(app, 'Storage', { env, config });
    const stack = new ApiStack(app, 'Api', {
      env,
      config,
      storage,
      onlineKeys: keys.onlineKeys,
      cdnSigningKey: keys.cdnSigningKey,
      functions: options.functions ?? [signer],
      routes: options.routes ?? [adminRoute],
      ...(options.isPrimaryRegion === undefined ? {} : { isPrimaryRegion: options.isPrimaryRegion }),
    });
    return { app, stack, template: Template.fromStack(stack) };
  }

  let built: ReturnType<typeof build>;
  beforeAll(() => {
    built = build({ signet: everyFiveMinutes });
  });

  it('puts an "iam" route behind the IAM authorizer', () => {
    built.template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /v1/admin/sign', AuthorizationType: 'AWS_IAM' });
  });

  it('grants bucket reads under the published prefixes only, with SIGNET_BUCKET set', () => {
    built.template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ [bucketEnvVar]: Match.anyValue(), [variables[mainTable.variable].name]: Match.anyValue() }) } });
    const statements = Object.values(built.template.findResources('AWS::IAM::Policy')).flatMap(
      (p) => (p.Properties as { PolicyDocument: { Statement: Array<{ Sid?: string; Action: unknown; Resource: unknown }> } }).PolicyDocument.Statement,
    );
    const bucket = statements.filter((s) => JSON.stringify(s.Action).includes('s3:'));
    expect(bucket.map((s) => [s.Sid, s.Action])).toEqual([['SignetPublishedRead', 's3:GetObject']]);
    expect((bucket[0]?.Resource as unknown[]).map((r) => JSON.stringify(r).match(/"\/([a-z]+\/)\*"/)?.[1])).toEqual(['metadata/', 'targets/']);
    expect(JSON.stringify(statements)).not.toMatch(/dynamodb:PutItem/);
  });

  it('binds a key listed twice once: one env var, one statement', () => {
    const statements = Object.values(built.template.findResources('AWS::IAM::Policy')).flatMap(
      (p) => (p.Properties as { PolicyDocument: { Statement: Array<{ Sid?: string }> } }).PolicyDocument.Statement,
    );
    expect(statements.filter((s) => s.Sid === 'SignTimestampMetadata')).toHaveLength(1);
    built.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ [onlineKeyEnv.timestamp]: Match.anyValue(), [onlineKeyEnv.snapshot]: Match.absent() }) },
    });
  });

  it('schedules at the runtime block\'s rate in the primary region, and not in a replica region', () => {
    built.template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(5 minutes)' });
    build({ isPrimaryRegion: false, signet: everyFiveMinutes }).template.resourceCountIs('AWS::Events::Rule', 0);
  });

  it('refuses a schedule that is not a whole number of minutes', () => {
    expect(() => build({ signet: { runtime: { timestampRefreshMinutes: 0.5 } } })).toThrow(/runtime\.timestampRefreshMinutes/);
  });

  it('gives the functions the runtime block\'s settings, each only those it reads', () => {
    const custom = build({ functions: [...functions], routes: [...routes], signet: { runtime: { pollSeconds: 600, manifestBurst: 5, timestampExpiryHours: 12, timestampRefreshMinutes: 30 } } });
    custom.template.hasResourceProperties('AWS::Lambda::Function', { Description: 'Signet agents', Environment: { Variables: Match.objectLike({ [variables.pollSeconds.name]: '600' }) } });
    custom.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Signet manifest',
      Environment: { Variables: Match.objectLike({ [variables.pollSeconds.name]: '600', [variables.manifestBurst.name]: '5', [variables.manifestPerMinute.name]: '60' }) },
    });
    custom.template.hasResourceProperties('AWS::Lambda::Function', { Description: 'Signet releases', Environment: { Variables: Match.objectLike({ [variables.timestampExpiryHours.name]: '12' }) } });
    custom.template.hasResourceProperties('AWS::Lambda::Function', { Description: 'Signet health', Environment: { Variables: Match.objectLike({ [variables.pollSeconds.name]: Match.absent() }) } });
    custom.template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(30 minutes)' });
  });

  it('passes cdk-nag: the wildcard findings of its grants are acknowledged one by one', () => {
    built.app.synth();
    const report = new AwsSolutionsChecks().validateScope(built.stack);
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

  it('binds CDN signing from the configuration: another parameter name, the same grant shape', () => {
    const signing = build({ functions: [{ ...signer, cdnSigning: true }], signet: { cdnParameterName: '/acme/signet/cdn' } });
    signing.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ [cdnVariables.parameter]: '/acme/signet/cdn', [cdnVariables.parameterRegion]: 'eu-west-1', [cdnVariables.kmsKey]: Match.anyValue() }) },
    });
    const statements = Object.values(signing.template.findResources('AWS::IAM::Policy')).flatMap(
      (p) => (p.Properties as { PolicyDocument: { Statement: Array<{ Sid?: string; Action: unknown; Resource: unknown }> } }).PolicyDocument.Statement,
    );
    expect(statements.find((s) => s.Sid === 'ReadCdnParameter')).toMatchObject({
      Action: 'ssm:GetParameter',
      Resource: { 'Fn::Join': ['', ['arn:aws:ssm:eu-west-1:', { Ref: 'AWS::AccountId' }, ':parameter/acme/signet/cdn']] },
    });
    signing.app.synth();
    expect(new AwsSolutionsChecks().validateScope(signing.stack).violations).toEqual([]);
  });

  it('refuses a CDN parameter name that is not fully qualified', () => {
    expect(() => build({ functions: [{ ...signer, cdnSigning: true }], signet: { cdnParameterName: 'signet/cdn' } })).toThrow(/cdnParameterName/);
    const scope = new Stack(new App({ context: SKIP_BUNDLING }), 'S');
    const fn = new SignetFunction(scope, 'F', {
      entry: 'functions/health/handler.ts',
      description: 'x',
      memorySize: 128,
      timeout: Duration.seconds(3),
      logRetention: 90,
      logRemovalPolicy: RemovalPolicy.DESTROY,
    });
    expect(() => fn.bindCdnParameter('signet/cdn', 'us-east-1')).toThrow(/fully qualified/);
  });

  it('fails on a route whose function is not defined', () => {
    expect(() => build({ functions: [] })).toThrow(/unknown function "sign"/);
  });
});
