import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeKey, routes } from '#lib/definitions/routes.ts';
import { PUBLISHING_ROUTE_KEYS } from '../../cdk/constructs/publishing-role.ts';
import type { CfnTemplate, SynthesizedApp } from './support.ts';
import { actionsOf, policyStatements, resourcesOfType, synthSignet, withReplicas } from './support.ts';

const GITHUB = { repository: 'acme/signatures', branch: 'release' };
const PROVIDER_ARN = 'arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com';

function appStacks(synth: SynthesizedApp) {
  return synth.assembly.stacks.map((artifact) => ({ name: artifact.stackName, template: artifact.template as CfnTemplate }));
}

describe('the default configuration (no signet.github)', () => {
  let synth: SynthesizedApp;
  beforeAll(() => {
    synth = synthSignet();
  });
  afterAll(() => synth?.dispose());

  it('sets no github block in cdk.json', () => {
    expect(synth.config.github).toBeUndefined();
  });

  it('creates no OIDC provider, no web-identity role and no PublishingRoleArn output anywhere', () => {
    for (const { name, template } of appStacks(synth)) {
      expect(resourcesOfType(template, 'AWS::IAM::OIDCProvider'), name).toEqual([]);
      expect(JSON.stringify(resourcesOfType(template, 'AWS::IAM::Role')), name).not.toContain('AssumeRoleWithWebIdentity');
      expect(Object.keys(template.Outputs ?? {}), name).not.toContain('PublishingRoleArn');
    }
  });
});

describe('with signet.github', () => {
  let synth: SynthesizedApp;
  let api: CfnTemplate;
  let roleId: string;
  let policyId: string;

  beforeAll(() => {
    synth = synthSignet({ signet: { github: GITHUB } });
    const primary = synth.stacks.regions[0];
    if (!primary?.api.publishingRole) throw new Error('no publishing role');
    api = synth.json(primary.api);
    const { role } = primary.api.publishingRole;
    roleId = primary.api.getLogicalId(role.node.defaultChild as never);
    policyId = primary.api.getLogicalId(role.node.findChild('DefaultPolicy').node.defaultChild as never);
  });
  afterAll(() => synth?.dispose());

  const statements = () => policyStatements(api, policyId);

  it('creates the GitHub OIDC provider for sts.amazonaws.com in the primary API stack', () => {
    const providers = resourcesOfType(api, 'AWS::IAM::OIDCProvider');
    expect(providers.map(([, p]) => p.Properties)).toEqual([
      expect.objectContaining({ Url: 'https://token.actions.githubusercontent.com', ClientIdList: ['sts.amazonaws.com'] }),
    ]);
  });

  it('lets only that repository\'s branch assume the role, through the provider, with StringEquals on aud and sub', () => {
    const [providerId] = resourcesOfType(api, 'AWS::IAM::OIDCProvider')[0] ?? [];
    expect(api.Resources[roleId]?.Properties?.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 'sts:AssumeRoleWithWebIdentity',
          Principal: { Federated: { Ref: providerId } },
          Condition: {
            StringEquals: {
              'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com',
              'token.actions.githubusercontent.com:sub': 'repo:acme/signatures:ref:refs/heads/release',
            },
          },
        },
      ],
    });
  });

  it('lasts an hour per session at most', () => {
    expect(api.Resources[roleId]?.Properties?.MaxSessionDuration).toBe(3600);
  });

  it('outputs the role ARN', () => {
    expect(api.Outputs?.PublishingRoleArn).toMatchObject({ Value: { 'Fn::GetAtt': [roleId, 'Arn'] } });
  });

  it('has no wildcard action, no managed policy, no inline policy', () => {
    expect(statements().length).toBeGreaterThan(0);
    for (const action of actionsOf(statements())) expect(action).not.toMatch(/\*/);
    expect(api.Resources[roleId]?.Properties?.ManagedPolicyArns).toBeUndefined();
    expect(api.Resources[roleId]?.Properties?.Policies).toBeUndefined();
  });

  it('may invoke exactly the publish and rollout routes of the $default stage of this HTTP API', () => {
    const invoke = statements().filter((s) => actionsOf([s]).includes('execute-api:Invoke'));
    expect(invoke).toHaveLength(1);
    expect(invoke[0]?.Action).toBe('execute-api:Invoke');
    const apiId = synth.stacks.regions[0]?.api.getLogicalId(synth.stacks.regions[0].api.api.node.defaultChild as never);
    const arn = (methodAndPath: string) => {
      const [method, path] = methodAndPath.split(' ');
      return { 'Fn::Join': ['', ['arn:aws:execute-api:eu-west-1:', { Ref: 'AWS::AccountId' }, ':', { Ref: apiId }, `/$default/${method}${path?.replace(/\{[^}]+\}/g, '*')}`]] };
    };
    expect(new Set([invoke[0]?.Resource].flat().map((r) => JSON.stringify(r)))).toEqual(new Set(PUBLISHING_ROUTE_KEYS.map((key) => JSON.stringify(arn(key)))));
    expect(PUBLISHING_ROUTE_KEYS).toEqual([
      'GET /v1/admin/repository',
      'POST /v1/admin/releases',
      'POST /v1/admin/channels/{product}/{channel}/promote',
      'POST /v1/admin/channels/{product}/{channel}/halt',
      'GET /v1/admin/audit',
    ]);
  });

  it('names only routes that exist and are IAM-authorized; never the root upload or license admin', () => {
    for (const key of PUBLISHING_ROUTE_KEYS) expect(routes.find((r) => routeKey(r) === key)?.authorization, key).toBe('iam');
    expect(PUBLISHING_ROUTE_KEYS).not.toContain('PUT /v1/admin/repository/root');
    expect(PUBLISHING_ROUTE_KEYS.some((key) => key.includes('/licenses') || key.includes('/blacklist'))).toBe(false);
  });

  it('may upload and read targets, read metadata, and list under targets/ only; never delete', () => {
    const bucketArn = { 'Fn::GetStackOutput': { StackName: 'Signet-Storage-eu-west-1', Region: 'eu-west-1', OutputName: expect.stringContaining('FnGetAttSignatureBucket') } };
    const objects = (prefix: string) => ({ 'Fn::Join': ['', [bucketArn, `/${prefix}*`]] });
    const s3 = statements().filter((s) => actionsOf([s]).some((a) => a.startsWith('s3:')));
    expect(s3).toEqual([
      { Sid: 'UploadTargets', Effect: 'Allow', Action: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'], Resource: objects('targets/') },
      { Sid: 'ReadMetadata', Effect: 'Allow', Action: 's3:GetObject', Resource: objects('metadata/') },
      { Sid: 'ListTargets', Effect: 'Allow', Action: 's3:ListBucket', Resource: bucketArn, Condition: { StringLike: { 's3:prefix': 'targets/*' } } },
    ]);
    expect(actionsOf(statements()).filter((a) => !a.startsWith('s3:') && a !== 'execute-api:Invoke')).toEqual([]);
  });

  it('passes cdk-nag, its wildcard resources acknowledged one by one', () => {
    expect(new AwsSolutionsChecks().validateScope(synth.app).violations).toEqual([]);
  });
});

describe('with signet.github naming an existing OIDC provider', () => {
  let synth: SynthesizedApp;
  beforeAll(() => {
    synth = synthSignet({ signet: { github: { ...GITHUB, oidcProviderArn: PROVIDER_ARN }, ...withReplicas(['eu-central-1']) } });
  });
  afterAll(() => synth?.dispose());

  it('creates no provider and trusts the given one', () => {
    const primary = synth.stacks.regions[0];
    if (!primary?.api.publishingRole) throw new Error('no publishing role');
    const api = synth.json(primary.api);
    expect(resourcesOfType(api, 'AWS::IAM::OIDCProvider')).toEqual([]);
    const roleId = primary.api.getLogicalId(primary.api.publishingRole.role.node.defaultChild as never);
    const trust = api.Resources[roleId]?.Properties?.AssumeRolePolicyDocument as { Statement: Array<{ Principal: unknown }> };
    expect(trust.Statement.map((s) => s.Principal)).toEqual([{ Federated: PROVIDER_ARN }]);
  });

  it('puts the role in the primary region only', () => {
    const withRole = appStacks(synth).filter(({ template }) => Object.keys(template.Outputs ?? {}).includes('PublishingRoleArn'));
    expect(withRole.map((s) => s.name)).toEqual(['Signet-Api-eu-west-1']);
    expect(synth.stacks.regions[1]?.api.publishingRole).toBeUndefined();
  });
});
