import { describe, expect, it } from 'vitest';
import { NotPrimaryRegion, assertPrimaryRegion, cloudServices } from '#lib/aws/cloud-services.ts';
import { functions, routes } from '#lib/definitions/routes.ts';

/** What CDK sets on the releases function (lib/definitions/routes.ts declares it). */
const releasesEnv = (region: string | undefined): NodeJS.ProcessEnv => ({
  SIGNET_TABLE_MAIN: 'main',
  SIGNET_BUCKET: 'bucket',
  SIGNET_SNAPSHOT_KMS_KEY: 'arn:aws:kms:eu-west-1:111122223333:key/mrk-1',
  SIGNET_TIMESTAMP_KMS_KEY: 'arn:aws:kms:eu-west-1:111122223333:key/mrk-2',
  SIGNET_PRIMARY_REGION: 'eu-west-1',
  ...(region === undefined ? {} : { AWS_REGION: region }),
});

describe('a primary-only function outside the primary region', () => {
  it('the releases function refuses to start in a replica region, naming both regions', () => {
    expect(() => cloudServices('releases', () => ({}), releasesEnv('us-east-1'))).toThrow(NotPrimaryRegion);
    expect(() => cloudServices('releases', () => ({}), releasesEnv('us-east-1'))).toThrow(
      /releases .* primary region eu-west-1 only, not in us-east-1/,
    );
  });

  it('and without AWS_REGION, rather than guessing', () => {
    expect(() => cloudServices('releases', () => ({}), releasesEnv(undefined))).toThrow(/not in \(AWS_REGION unset\)/);
  });

  it('starts in the primary region', () => {
    expect(cloudServices('releases', () => ({}), releasesEnv('eu-west-1')).config.get('bucket')).toBe('bucket');
  });

  it('a function without the flag starts in any region', () => {
    const services = cloudServices('health', () => ({}), { SIGNET_TABLE_MAIN: 'main', AWS_REGION: 'ap-southeast-1' });
    expect(services.config.get('mainTable')).toBe('main');
  });

  it('every function that writes the bucket or takes IAM-signed calls but the scheduled refresh is primary-only', () => {
    // The refresh is the one writer outside that rule: it runs where the timestamp signs (primary, or the failover region).
    const iamFunctions = new Set(routes.filter((r) => r.authorization === 'iam').map((r) => r.functionId));
    const writers = functions.filter((f) => (f.bucket === 'write' && !f.scheduled) || iamFunctions.has(f.id)).map((f) => f.id);
    expect(writers).toEqual(expect.arrayContaining(['admin', 'releases', 'mirrors']));
    for (const id of writers) expect(functions.find((f) => f.id === id)?.primaryOnly, id).toBe(true);
  });

  it('assertPrimaryRegion passes the primary and refuses others', () => {
    expect(() => assertPrimaryRegion('admin', 'eu-west-1', 'eu-west-1')).not.toThrow();
    expect(() => assertPrimaryRegion('admin', 'eu-west-1', 'eu-west-2')).toThrow(NotPrimaryRegion);
  });
});
