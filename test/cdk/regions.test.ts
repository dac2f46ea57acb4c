/**
 * The three-region deployment CI synthesizes (.ci/run): primary eu-west-1, replicas
 * us-east-1 and ap-southeast-1, with the API domain they require. What issue 15 asked of
 * the API and the keys: every region reachable under one latency-routed name with health
 * checks, the execute-api endpoints off, a replica that cannot write the repository,
 * replica keys and the CDN parameter used in-region, and one timestamp signer at a time.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPrimaryOnly, routeKey, routes } from '#lib/definitions/routes.ts';
import { DENY_OTHER_GRANTS, GRANT_FOR_AWS_RESOURCE } from '../../cdk/constructs/key-policy.ts';
import { HEALTH_CHECK_PATH } from '../../cdk/constructs/regional-api-domain.ts';
import type { RegionalStacks } from '../../cdk/signet.ts';
import type { CfnTemplate, PolicyStatementJson, SynthesizedApp } from './support.ts';
import { actionsOf, onlyResource, policyStatements, resourcesOfType, synthSignet, withReplicas } from './support.ts';

const PRIMARY = 'eu-west-1';
const REPLICAS = ['us-east-1', 'ap-southeast-1'] as const;
const API_DOMAIN = 'api.updates.example.com';
/** CloudFront's managed origin request policy AllViewerExceptHostHeader. */
const ALL_VIEWER_EXCEPT_HOST_HEADER = 'b689b0a8-53d0-40ab-baf2-68738e2966ac';
/** CI's three-region configuration, from the one file .ci/run synthesizes it from. */
const THREE_REGIONS = JSON.parse(readFileSync(new URL('../../.ci/three-regions.json', import.meta.url), 'utf8')) as Record<string, unknown>;

let synth: SynthesizedApp;
beforeAll(() => {
  synth = synthSignet({ signet: THREE_REGIONS });
});
afterAll(() => synth?.dispose());

function regionStacks(app: SynthesizedApp, region: string): RegionalStacks {
  const found = app.stacks.regions.find((r) => r.region === region);
  if (!found) throw new Error(`no stacks in ${region}`);
  return found;
}

/** The statements of every function role of an API stack. */
function functionStatements(app: SynthesizedApp, region: string): PolicyStatementJson[] {
  return policyStatements(app.json(regionStacks(app, region).api));
}

/** Statements that allow `action` (exact, or by a `service:*` wildcard). */
function allowing(statements: readonly PolicyStatementJson[], action: string): PolicyStatementJson[] {
  const [service] = action.split(':');
  return statements.filter((s) => s.Effect === 'Allow' && actionsOf([s]).some((a) => a === action || a === `${service}:*` || a === '*'));
}

function routeKeys(template: CfnTemplate): string[] {
  return resourcesOfType(template, 'AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties?.RouteKey as string);
}

it('synthesizes the configuration CI does, the one the other template tests build with withReplicas', () => {
  expect(THREE_REGIONS).toMatchObject({ replicaRegions: REPLICAS, ...withReplicas(REPLICAS) });
  expect(synth.config.regions).toEqual([PRIMARY, ...REPLICAS]);
});

describe('the API domain: one latency-routed name, a health check per region', () => {
  it.each([PRIMARY, ...REPLICAS])('%s: the execute-api endpoint is off; two custom domains (regional, TLS 1.2) with that region\'s certificate', (region) => {
    const json = synth.json(regionStacks(synth, region).api);
    const [, api] = onlyResource(json, 'AWS::ApiGatewayV2::Api');
    expect(api.Properties?.DisableExecuteApiEndpoint).toBe(true);
    const domains = resourcesOfType(json, 'AWS::ApiGatewayV2::DomainName').map(([, d]) => d.Properties);
    expect(domains.map((d) => d?.DomainName).sort()).toEqual([`${region}.${API_DOMAIN}`, API_DOMAIN].sort());
    for (const domain of domains) {
      expect(domain?.DomainNameConfigurations).toEqual([
        { CertificateArn: expect.stringMatching(new RegExp(`^arn:aws:acm:${region}:`)), EndpointType: 'REGIONAL', SecurityPolicy: 'TLS_1_2' },
      ]);
    }
    expect(resourcesOfType(json, 'AWS::ApiGatewayV2::ApiMapping')).toHaveLength(2);
  });

  it.each([PRIMARY, ...REPLICAS])('%s: an HTTPS health check of /v1/health on its own name, tied to its latency record', (region) => {
    const json = synth.json(regionStacks(synth, region).api);
    const [checkId, check] = onlyResource(json, 'AWS::Route53::HealthCheck');
    expect(check.Properties?.HealthCheckConfig).toMatchObject({
      Type: 'HTTPS',
      FullyQualifiedDomainName: `${region}.${API_DOMAIN}`,
      Port: 443,
      ResourcePath: HEALTH_CHECK_PATH,
      EnableSNI: true,
      FailureThreshold: 3,
    });
    const records = resourcesOfType(json, 'AWS::Route53::RecordSet').map(([, r]) => r.Properties ?? {});
    expect(records).toContainEqual(
      expect.objectContaining({ Name: `${API_DOMAIN}.`, Type: 'A', Region: region, SetIdentifier: region, HealthCheckId: { Ref: checkId }, HostedZoneId: 'Z0123456789ABCDEFGHIJ' }),
    );
    expect(records).toContainEqual(expect.objectContaining({ Name: `${region}.${API_DOMAIN}.`, Type: 'A', HostedZoneId: 'Z0123456789ABCDEFGHIJ' }));
    expect(records.every((r) => r.AliasTarget !== undefined)).toBe(true);
  });

  it('names each region\'s own URL as ApiEndpoint: the primary\'s is where signed admin and CI calls go', () => {
    for (const region of [PRIMARY, ...REPLICAS]) {
      expect(synth.json(regionStacks(synth, region).api).Outputs?.ApiEndpoint).toMatchObject({ Value: `https://${region}.${API_DOMAIN}` });
    }
  });

  it('CloudFront sends /v1/* to the latency-routed name and the mirror routes to the primary\'s own, both with Host and SNI left to the origin', () => {
    const json = synth.json(synth.stacks.global);
    const [, distribution] = onlyResource(json, 'AWS::CloudFront::Distribution');
    const config = distribution.Properties?.DistributionConfig as {
      Origins: Array<{ Id: string; DomainName: unknown; CustomOriginConfig?: { OriginProtocolPolicy: string; OriginSSLProtocols: string[] } }>;
      CacheBehaviors: Array<{ PathPattern: string; TargetOriginId: string; OriginRequestPolicyId?: string }>;
    };
    const originOf = (pattern: string) => {
      const behavior = config.CacheBehaviors.find((b) => b.PathPattern === pattern);
      expect(behavior?.OriginRequestPolicyId, pattern).toBe(ALL_VIEWER_EXCEPT_HOST_HEADER);
      return config.Origins.find((o) => o.Id === behavior?.TargetOriginId);
    };
    expect(originOf('/v1/*')).toMatchObject({ DomainName: API_DOMAIN, CustomOriginConfig: { OriginProtocolPolicy: 'https-only', OriginSSLProtocols: ['TLSv1.2'] } });
    const pinned = routes.filter((r) => r.authorization === 'public' && isPrimaryOnly(r));
    expect(pinned.map(routeKey)).toEqual(['POST /v1/mirrors/lease', 'POST /v1/mirrors/reports', 'POST /v1/mirrors/offline-timestamp']);
    const patterns = config.CacheBehaviors.map((b) => b.PathPattern);
    for (const route of pinned) {
      expect(originOf(route.path)).toMatchObject({ DomainName: `${PRIMARY}.${API_DOMAIN}` });
      // CloudFront takes the first behaviour that matches: before /v1/*.
      expect(patterns.indexOf(route.path)).toBeLessThan(patterns.indexOf('/v1/*'));
    }
    expect(JSON.stringify(config.Origins)).not.toContain('execute-api');
  });
});

describe('a replica region cannot break the repository', () => {
  it('the primary API carries every route, a replica API the agent routes only (no release, repository, admin or mirror route)', () => {
    expect(routeKeys(synth.json(regionStacks(synth, PRIMARY).api)).sort()).toEqual(routes.map(routeKey).sort());
    const agentRoutes = routes.filter((r) => !isPrimaryOnly(r)).map(routeKey).sort();
    expect(agentRoutes).toEqual(['GET /v1/agents/self', 'GET /v1/health', 'POST /v1/agents', 'POST /v1/manifest', 'POST /v1/reports']);
    for (const region of REPLICAS) {
      const keys = routeKeys(synth.json(regionStacks(synth, region).api));
      expect(keys.sort(), region).toEqual(agentRoutes);
      expect(keys.filter((k) => k.includes('/v1/admin') || k.includes('/v1/mirrors')), region).toEqual([]);
      expect(resourcesOfType(synth.json(regionStacks(synth, region).api), 'AWS::ApiGatewayV2::Authorizer'), region).toEqual([]);
    }
  });

  it('no replica function may write any bucket, sign with an online TUF key, or be scheduled', () => {
    for (const region of REPLICAS) {
      const statements = functionStatements(synth, region);
      for (const action of ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 'kms:CreateGrant']) expect(allowing(statements, action), `${region} ${action}`).toEqual([]);
      // The one kms:Sign: the manifest's CDN grants, with this region's replica of the CDN key.
      const signing = allowing(statements, 'kms:Sign');
      expect(signing.map((s) => s.Sid), region).toEqual(['SignCdnGrants']);
      expect(JSON.stringify(signing), region).toContain(`Signet-Keys-${region}`);
      expect(JSON.stringify(signing), region).toContain('CdnSigningKey');
      expect(JSON.stringify(statements), region).not.toMatch(/TufSnapshotKey|TufTimestampKey/);
      expect(resourcesOfType(synth.json(regionStacks(synth, region).api), 'AWS::Events::Rule'), region).toEqual([]);
      // Nothing to start: the repository function is the signing region's.
      expect(allowing(statements, 'lambda:InvokeFunction'), region).toEqual([]);
    }
  });

  it('deploys in a replica region exactly the functions its routes need, none of them primary-only', () => {
    for (const region of REPLICAS) {
      const descriptions = resourcesOfType(synth.json(regionStacks(synth, region).api), 'AWS::Lambda::Function').map(([, f]) => f.Properties?.Description);
      expect(descriptions.sort(), region).toEqual(['Signet agents', 'Signet health', 'Signet manifest', 'Signet reports']);
    }
  });

  it('the primary-only functions know the primary region, and refuse to start elsewhere (lib/aws/cloud-services.ts)', () => {
    const fns = resourcesOfType(synth.json(regionStacks(synth, PRIMARY).api), 'AWS::Lambda::Function');
    const withPrimary = fns.filter(([, f]) => (f.Properties?.Environment as { Variables: Record<string, unknown> }).Variables.SIGNET_PRIMARY_REGION === PRIMARY);
    expect(withPrimary.map(([, f]) => f.Properties?.Description).sort()).toEqual(['Signet admin', 'Signet mirrors', 'Signet releases']);
  });
});

describe('keys and the CDN parameter, in-region', () => {
  it.each(REPLICAS)('%s: replica keys of the CDN key and both online keys, with the primary\'s grant restrictions, kept', (region) => {
    const keys = synth.json(regionStacks(synth, region).keys);
    const replicas = resourcesOfType(keys, 'AWS::KMS::ReplicaKey');
    expect(replicas).toHaveLength(3);
    for (const [, key] of replicas) {
      expect(JSON.stringify(key.Properties?.PrimaryKeyArn)).toContain('Signet-Keys-eu-west-1');
      expect(key.DeletionPolicy).toBe('Retain');
      expect(key.Properties?.PendingWindowInDays).toBe(30);
      const statements = (key.Properties?.KeyPolicy as { Statement: Array<Record<string, unknown>> }).Statement;
      expect(statements).toContainEqual(expect.objectContaining({ Sid: 'AccountAdministersAndUses', NotAction: 'kms:CreateGrant' }));
      expect(statements).toContainEqual(expect.objectContaining({ Sid: 'GrantsOnlyForAwsResources', Action: 'kms:CreateGrant', Condition: GRANT_FOR_AWS_RESOURCE }));
      expect(statements).toContainEqual(expect.objectContaining({ Sid: 'NoGrantsOtherwise', Effect: 'Deny', Principal: '*', Action: 'kms:CreateGrant', Condition: DENY_OTHER_GRANTS }));
    }
    const primaries = replicas.map(([, key]) => JSON.stringify(key.Properties?.PrimaryKeyArn));
    for (const name of ['CdnSigningKey', 'TufSnapshotKey', 'TufTimestampKey']) expect(primaries.filter((p) => p.includes(name))).toHaveLength(1);
    expect(resourcesOfType(keys, 'AWS::KMS::Alias').map(([, a]) => a.Properties?.AliasName).sort()).toEqual(['alias/signet/tuf-snapshot', 'alias/signet/tuf-timestamp']);
  });

  it.each(REPLICAS)('%s: the manifest function signs with the region\'s replica key and reads the CDN parameter in its region', (region) => {
    const [, manifest] = resourcesOfType(synth.json(regionStacks(synth, region).api), 'AWS::Lambda::Function').find(([, f]) => f.Properties?.Description === 'Signet manifest') ?? [];
    const env = (manifest?.Properties?.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(JSON.stringify(env.SIGNET_CDN_KMS_KEY)).toContain(`Signet-Keys-${region}`);
    expect(env.SIGNET_CDN_PARAMETER_REGION).toBe(region);
    const read = functionStatements(synth, region).find((s) => s.Sid === 'ReadCdnParameter');
    expect(JSON.stringify(read?.Resource)).toContain(`arn:aws:ssm:${region}:`);
  });

  it('the global stack copies the CDN parameter to every region but its own, each copy with a role that may put and delete that one parameter', () => {
    const json = synth.json(synth.stacks.global);
    const copies = resourcesOfType(json, 'Custom::SignetParameterCopy').map(([, c]) => JSON.stringify(c.Properties?.Create));
    const regionsCopied = copies.map((c) => /\\"region\\":\\"([a-z0-9-]+)\\"/.exec(c)?.[1]).sort();
    expect(regionsCopied).toEqual(['ap-southeast-1', 'eu-west-1']);
    const ssm = policyStatements(json).filter((s) => actionsOf([s]).some((a) => a.startsWith('ssm:')));
    expect(ssm).toHaveLength(2);
    for (const statement of ssm) {
      expect([statement.Action].flat().sort()).toEqual(['ssm:DeleteParameter', 'ssm:PutParameter']);
      expect(JSON.stringify(statement.Resource)).toMatch(/arn:aws:ssm:(eu-west-1|ap-southeast-1):","?.*:parameter\/signet\/cdn"/);
    }
  });
});

describe('the timestamp re-sign: one region signs at a time', () => {
  const schedules = (app: SynthesizedApp) =>
    app.stacks.regions.flatMap((r) => resourcesOfType(app.json(r.api), 'AWS::Events::Rule').map(() => r.region));

  it('normally the primary region', () => {
    expect(schedules(synth)).toEqual([PRIMARY]);
  });

  describe('with timestampFailoverRegion us-east-1', () => {
    let failover: SynthesizedApp;
    beforeAll(() => {
      failover = synthSignet({ signet: { ...THREE_REGIONS, timestampFailoverRegion: 'us-east-1' } });
    });
    afterAll(() => failover?.dispose());

    it('schedules the refresh in us-east-1 only, the primary\'s no more', () => {
      expect(schedules(failover)).toEqual(['us-east-1']);
    });

    it('lets us-east-1\'s refresh write its own bucket and sign with its replica keys: the one stated exception', () => {
      const statements = policyStatements(failover.json(regionStacks(failover, 'us-east-1').api), 'timestampRefresh');
      expect(JSON.stringify(allowing(statements, 's3:PutObject'))).toContain('Signet-Storage-us-east-1');
      expect(JSON.stringify(allowing(statements, 's3:PutObject'))).not.toContain('Signet-Storage-eu-west-1');
      const signing = allowing(statements, 'kms:Sign');
      expect(signing.map((s) => s.Sid).sort()).toEqual(['SignSnapshotMetadata', 'SignTimestampMetadata']);
      for (const s of signing) expect(JSON.stringify(s.Resource)).toContain('Signet-Keys-us-east-1');
      // Its reports start it on an auto-halt, as the primary's do normally.
      expect(JSON.stringify(policyStatements(failover.json(regionStacks(failover, 'us-east-1').api), 'reports'))).toContain('InvokeRepositoryFunction');
    });

    it('changes nothing else: no admin route there, and the other replica still writes nothing', () => {
      expect(routeKeys(failover.json(regionStacks(failover, 'us-east-1').api)).filter((k) => k.includes('/v1/admin'))).toEqual([]);
      const other = policyStatements(failover.json(regionStacks(failover, 'ap-southeast-1').api));
      expect(allowing(other, 's3:PutObject')).toEqual([]);
      expect(allowing(other, 'kms:Sign').map((s) => s.Sid)).toEqual(['SignCdnGrants']);
    });
  });
});
