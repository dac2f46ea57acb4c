import { describe, expect, it } from 'vitest';
import { ConfigError, GLOBAL_REGION, parseConfig } from '../../cdk/config.ts';
import { ACCOUNT_RATE_QUOTA, fleetThrottle } from '../../cdk/fleet.ts';
import { cdkJsonContext, withReplicas } from './support.ts';

describe('parseConfig', () => {
  it('reads the cdk.json signet block with its defaults', () => {
    const config = parseConfig(cdkJsonContext.signet, {});

    expect(config).toMatchObject({
      primaryRegion: 'eu-west-1',
      replicaRegions: [],
      regions: ['eu-west-1'],
      globalRegion: GLOBAL_REGION,
      logRetentionDays: 90,
      removalPolicy: 'retain',
      fleetSize: 1_000_000,
      api: { throttleRateLimit: 2900, throttleBurstLimit: 5800 },
      waf: { apiRequestsPer5MinutesPerIp: 2000 },
      cdnParameterName: '/signet/cdn',
      monitoring: { api5xxPercent: 5, apiLatencyP99Ms: 2500, monthlyBudgetUsd: 20_000 },
    });
    expect(config.monitoring.alarmEmail).toBeUndefined();
    expect(config.account).toBeUndefined();
    expect(config.domainName).toBeUndefined();
    expect(config.github).toBeUndefined();
  });

  it('fills every default from an empty context', () => {
    expect(parseConfig(undefined, {})).toMatchObject({ primaryRegion: 'eu-west-1', regions: ['eu-west-1'], logRetentionDays: 90 });
  });

  it('takes the account from CDK_DEFAULT_ACCOUNT unless the context names one', () => {
    expect(parseConfig({}, { CDK_DEFAULT_ACCOUNT: '111122223333' }).account).toBe('111122223333');
    expect(parseConfig({ account: '444455556666' }, { CDK_DEFAULT_ACCOUNT: '111122223333' }).account).toBe('444455556666');
    expect(parseConfig({}, { CDK_DEFAULT_ACCOUNT: '' }).account).toBeUndefined();
  });

  it('lists the primary region first, then the replicas', () => {
    expect(parseConfig({ primaryRegion: 'us-west-2', ...withReplicas(['eu-central-1'], 'us-west-2') }, {}).regions).toEqual(['us-west-2', 'eu-central-1']);
  });

  describe('apiDomain', () => {
    const three = withReplicas(['us-east-1', 'ap-southeast-1']);
    const domain = three.apiDomain as { certificateArns: Record<string, string> };
    const failure = (signet: Record<string, unknown>) => {
      try {
        parseConfig(signet, {});
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      throw new Error('parseConfig accepted it');
    };

    it('is required with replica regions, the message naming the field', () => {
      expect(failure({ replicaRegions: ['us-east-1'] })).toMatch(/signet\.apiDomain: required with replicaRegions: .*no request reaches a replica/);
    });

    it('is optional with a single region, and then absent', () => {
      expect(parseConfig({}, {}).apiDomain).toBeUndefined();
    });

    it('takes the three-region example CI synthesizes', () => {
      expect(parseConfig(three, {}).apiDomain).toMatchObject({ domainName: 'api.updates.example.com', hostedZoneId: 'Z0123456789ABCDEFGHIJ' });
    });

    it('wants a certificate in every region, in that region, and no other', () => {
      const { 'ap-southeast-1': _dropped, ...twoCertificates } = domain.certificateArns;
      expect(failure({ ...three, apiDomain: { ...three.apiDomain as object, certificateArns: twoCertificates } })).toContain('signet.apiDomain.certificateArns.ap-southeast-1: missing');
      const wrongRegion = { ...domain.certificateArns, 'us-east-1': domain.certificateArns['eu-west-1'] };
      expect(failure({ ...three, apiDomain: { ...three.apiDomain as object, certificateArns: wrongRegion } })).toContain('signet.apiDomain.certificateArns.us-east-1: the certificate is in eu-west-1, not us-east-1');
      const extra = { ...domain.certificateArns, 'sa-east-1': 'arn:aws:acm:sa-east-1:123456789012:certificate/0000' };
      expect(failure({ ...three, apiDomain: { ...three.apiDomain as object, certificateArns: extra } })).toContain('signet.apiDomain.certificateArns.sa-east-1: not a region of this deployment');
    });

    it('wants the domain inside its hosted zone, and apart from CloudFront\'s', () => {
      expect(failure({ ...three, apiDomain: { ...three.apiDomain as object, hostedZoneName: 'example.org' } })).toContain('signet.apiDomain.domainName: api.updates.example.com is not in the hosted zone example.org');
      expect(failure({ ...three, apiDomain: { ...three.apiDomain as object, hostedZoneId: 'zone' } })).toContain('signet.apiDomain.hostedZoneId');
      const cloudFront = { domainName: 'api.updates.example.com', certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/0000' };
      expect(failure({ ...three, ...cloudFront })).toContain('signet.apiDomain.domainName: must differ from domainName');
    });
  });

  describe('timestampFailoverRegion', () => {
    it('names a replica region', () => {
      expect(parseConfig({ ...withReplicas(['us-east-1']), timestampFailoverRegion: 'us-east-1' }, {}).timestampFailoverRegion).toBe('us-east-1');
      expect(() => parseConfig({ ...withReplicas(['us-east-1']), timestampFailoverRegion: 'eu-west-1' }, {})).toThrow(/signet\.timestampFailoverRegion: must be the first of replicaRegions \(us-east-1\), whose bucket CloudFront fails over to; got eu-west-1/);
      // The second replica region's bucket is no failover origin: its timestamp would reach no agent.
      expect(() => parseConfig({ ...withReplicas(['us-east-1', 'ap-southeast-1']), timestampFailoverRegion: 'ap-southeast-1' }, {})).toThrow(/must be the first of replicaRegions \(us-east-1\)/);
    });
  });

  it('accepts the JSON string that `cdk synth -c signet=...` hands over', () => {
    expect(parseConfig('{"logRetentionDays": 30}', {}).logRetentionDays).toBe(30);
  });

  it('defaults the GitHub branch to main', () => {
    expect(parseConfig({ github: { repository: 'acme/signet' } }, {}).github).toEqual({ repository: 'acme/signet', branch: 'main' });
  });

  it('takes a slashed branch name and an existing GitHub OIDC provider', () => {
    const oidcProviderArn = 'arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com';
    expect(parseConfig({ github: { repository: 'acme/signet', branch: 'release/v2', oidcProviderArn } }, {}).github).toEqual({
      repository: 'acme/signet',
      branch: 'release/v2',
      oidcProviderArn,
    });
  });

  it.each([
    [{ logRetentionDays: 42 }, 'signet.logRetentionDays'],
    [{ primaryRegion: 'Europe' }, 'signet.primaryRegion'],
    [{ replicaRegions: ['eu-central-1', 'nowhere'] }, 'signet.replicaRegions.1'],
    [{ account: '12345' }, 'signet.account'],
    [{ removalPolicy: 'snapshot' }, 'signet.removalPolicy'],
    [{ api: { throttleRateLimit: -1 } }, 'signet.api.throttleRateLimit'],
    [{ waf: { apiRequestsPer5MinutesPerIp: 5 } }, 'signet.waf.apiRequestsPer5MinutesPerIp'],
    [{ github: { repository: 'no-slash' } }, 'signet.github.repository'],
    [{ github: { repository: 'acme/signet', branch: 'release/*' } }, 'signet.github.branch'],
    [{ github: { repository: 'acme/signet', oidcProviderArn: 'arn:aws:iam::111122223333:oidc-provider/accounts.google.com' } }, 'signet.github.oidcProviderArn'],
    [{ certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc' }, 'signet.certificateArn'],
    [{ domainName: 'updates.example.com' }, 'signet.certificateArn'],
    [{ replicaRegions: ['eu-west-1'] }, 'signet.replicaRegions'],
    [{ api: { throttleRateLimit: 500, throttleBurstLimit: 100 } }, 'signet.api.throttleBurstLimit'],
    [{ api: { throttleBurstLimit: 1000 } }, 'signet.api.throttleBurstLimit: must be at least throttleRateLimit (2900, derived from fleetSize)'],
    [{ fleetSize: 0 }, 'signet.fleetSize'],
    [{ fleetSize: 1.5 }, 'signet.fleetSize'],
    [{ fleetSize: '1000000' }, 'signet.fleetSize'],
    [{ fleetSize: 2_000_000_000 }, 'signet.fleetSize'],
    [{ distributionId: 'd123' }, 'signet.distributionId'],
    [{ cdnParameterName: 'signet/cdn' }, 'signet.cdnParameterName'],
    [{ cdnParameterName: '/aws/signet' }, 'signet.cdnParameterName'],
    [{ cdnParameterName: '/signet/c dn' }, 'signet.cdnParameterName'],
    [{ monitoring: { alarmEmail: 'ops' } }, 'signet.monitoring.alarmEmail'],
    [{ monitoring: { api5xxPercent: 0 } }, 'signet.monitoring.api5xxPercent'],
    [{ monitoring: { apiLatencyP99Ms: 20 } }, 'signet.monitoring.apiLatencyP99Ms'],
    [{ monitoring: { alarmTopic: 'x' } }, 'signet.monitoring'],
    [{ monitoring: { monthlyBudgetUsd: 0 } }, 'signet.monitoring.monthlyBudgetUsd'],
    [{ monitoring: { monthlyBudgetUsd: 99.5 } }, 'signet.monitoring.monthlyBudgetUsd'],
    [{ monitoring: { monthlyBudgetUsd: '5000' } }, 'signet.monitoring.monthlyBudgetUsd'],
  ])('refuses %j with a message naming %s', (raw, field) => {
    expect(() => parseConfig(raw, {})).toThrow(ConfigError);
    expect(() => parseConfig(raw, {})).toThrow(field);
  });

  it('takes a CDN parameter name and monitoring settings', () => {
    const config = parseConfig({ cdnParameterName: '/acme/signet-prod/cdn', monitoring: { alarmEmail: 'ops@example.com', api5xxPercent: 2 } }, {});
    expect(config.cdnParameterName).toBe('/acme/signet-prod/cdn');
    expect(config.monitoring).toEqual({ alarmEmail: 'ops@example.com', api5xxPercent: 2, apiLatencyP99Ms: 2500, monthlyBudgetUsd: 20_000 });
    expect(parseConfig({ monitoring: { monthlyBudgetUsd: 2500 } }, {}).monitoring.monthlyBudgetUsd).toBe(2500);
  });

  it('derives the stage throttle from fleetSize and runtime.pollSeconds: 2 x agents / pollSeconds x 1.3, up to the next 100, burst twice that', () => {
    expect(fleetThrottle(1_000_000, 900)).toEqual({ peak: 2_000_000 / 900, rateLimit: 2900, burstLimit: 5800 });
    expect(parseConfig({ fleetSize: 100_000 }, {}).api).toEqual({ throttleRateLimit: 300, throttleBurstLimit: 600 });
    // Polling hourly divides the load by four.
    expect(parseConfig({ runtime: { pollSeconds: 3600 } }, {}).api).toEqual({ throttleRateLimit: 800, throttleBurstLimit: 1600 });
    // Never below one step, however small the fleet.
    expect(parseConfig({ fleetSize: 1 }, {}).api).toEqual({ throttleRateLimit: 100, throttleBurstLimit: 200 });
    expect(fleetThrottle(5_000_000, 900).rateLimit).toBeGreaterThan(ACCOUNT_RATE_QUOTA);
  });

  it('fails the synth when the release day needs more than an account quota, naming the quota to raise', () => {
    const refusal = () => parseConfig({ fleetSize: 10_000_000 }, {});
    expect(refusal).toThrow(ConfigError);
    expect(refusal).toThrow(/signet\.quotas\.apiRequestsPerSecond: 10,000,000 agents polling every 900 s need 28,900 on release day, over API Gateway "Throttle rate" \(requests per second\) of 10,000 \(AWS's default\)/);
    expect(refusal).toThrow(/signet\.quotas\.tableReadUnitsPerSecond: .* need 101,256 .* of 40,000/);
    expect(refusal).toThrow(/signet\.quotas\.tableWriteUnitsPerSecond: .* need 130,000 .* of 40,000/);
    // Lambda fits: 14,445 requests of each kind a second, 20 ms each.
    expect(refusal).not.toThrow(/lambdaConcurrentExecutions/);
    // A stage throttle set by hand past the account's rate is refused as well.
    expect(() => parseConfig({ api: { throttleRateLimit: 12_000 } }, {})).toThrow(/quotas\.apiRequestsPerSecond: .* need 12,000/);
  });

  it('takes quotas stated as raised, and refuses a raise still too small', () => {
    const raised = { apiRequestsPerSecond: 30_000, tableReadUnitsPerSecond: 120_000, tableWriteUnitsPerSecond: 140_000 };
    expect(parseConfig({ fleetSize: 10_000_000, quotas: raised }, {}).quotas).toEqual(raised);
    expect(() => parseConfig({ fleetSize: 10_000_000, quotas: { ...raised, apiRequestsPerSecond: 20_000 } }, {})).toThrow(/apiRequestsPerSecond: .* of 20,000 \(the raised quota stated\)/);
    expect(() => parseConfig({ quotas: { apiRequestsPerSecond: 0 } }, {})).toThrow(/signet\.quotas\.apiRequestsPerSecond/);
    expect(() => parseConfig({ quotas: { kms: 5 } }, {})).toThrow(/kms/);
  });

  it('takes a throttle set in api over the derived one; a rate alone gets twice its burst', () => {
    expect(parseConfig({ api: { throttleRateLimit: 200, throttleBurstLimit: 400 } }, {}).api).toEqual({ throttleRateLimit: 200, throttleBurstLimit: 400 });
    expect(parseConfig({ api: { throttleRateLimit: 700 } }, {}).api).toEqual({ throttleRateLimit: 700, throttleBurstLimit: 1400 });
    expect(parseConfig({ api: { throttleBurstLimit: 9000 } }, {}).api).toEqual({ throttleRateLimit: 2900, throttleBurstLimit: 9000 });
  });

  it('names an unknown key instead of ignoring it', () => {
    expect(() => parseConfig({ primaryRegoin: 'eu-west-1' }, {})).toThrow(/Unrecognized key.*primaryRegoin/);
  });

  it('says so when the command-line value is not JSON', () => {
    expect(() => parseConfig('{not json', {})).toThrow(/must be a JSON object/);
  });
});
