import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SynthesizedApp } from './support.ts';
import { resourcesOfType, synthSignet, withReplicas } from './support.ts';

describe('the app with replica regions', () => {
  let synth: SynthesizedApp;

  beforeAll(() => {
    synth = synthSignet({ signet: { ...withReplicas(['eu-central-1']) } });
  });
  afterAll(() => synth?.dispose());

  it('deploys keys, storage, API and monitoring to every region (replica keys in a replica region), the global entry to us-east-1', () => {
    const names = synth.assembly.stacks.map((s) => `${s.stackName}@${s.environment.region}`).sort();
    expect(names).toEqual([
      'Signet-Api-eu-central-1@eu-central-1',
      'Signet-Api-eu-west-1@eu-west-1',
      'Signet-Global-us-east-1@us-east-1',
      'Signet-Keys-eu-central-1@eu-central-1',
      'Signet-Keys-eu-west-1@eu-west-1',
      'Signet-Monitoring-eu-central-1@eu-central-1',
      'Signet-Monitoring-eu-west-1@eu-west-1',
      'Signet-Storage-eu-central-1@eu-central-1',
      'Signet-Storage-eu-west-1@eu-west-1',
    ]);
  });

  it('gives a replica region the global table\'s replica rather than a table of its own', () => {
    const replica = synth.stacks.regions[1];
    if (!replica) throw new Error('no replica region');
    expect(resourcesOfType(synth.json(replica.storage), 'AWS::DynamoDB::GlobalTable')).toHaveLength(0);
    expect(resourcesOfType(synth.json(replica.storage), 'AWS::S3::Bucket')).toHaveLength(2);
    const grants = JSON.stringify(resourcesOfType(synth.json(replica.api), 'AWS::IAM::Policy'));
    expect(grants).toContain(':dynamodb:eu-central-1:');
    expect(grants).toContain('Signet-Storage-eu-west-1');
  });

  it('orders deployment: storage before its API, everything regional before the global entry', () => {
    const deps = (name: string) => synth.assembly.getStackByName(name).dependencies.map((d) => d.id).sort();
    expect(deps('Signet-Api-eu-west-1')).toContain('Signet-Storage-eu-west-1');
    // With the API domain, CloudFront's API origin is a name of the configuration, not the primary API's id.
    expect(deps('Signet-Global-us-east-1')).toEqual(expect.arrayContaining(['Signet-Keys-eu-west-1', 'Signet-Storage-eu-west-1']));
    expect(deps('Signet-Keys-eu-central-1')).toContain('Signet-Keys-eu-west-1');
    // A replica API signs with its region's replica keys and reads the global table the primary storage stack names; it writes no bucket.
    expect(deps('Signet-Api-eu-central-1')).toEqual(expect.arrayContaining(['Signet-Keys-eu-central-1', 'Signet-Storage-eu-west-1']));
    for (const region of ['eu-west-1', 'eu-central-1']) {
      // Its API, and the primary storage stack that names the global table (a replica region's storage holds only its bucket).
      expect(deps(`Signet-Monitoring-${region}`)).toEqual(expect.arrayContaining([`Signet-Api-${region}`, 'Signet-Storage-eu-west-1']));
      // Nothing depends on monitoring: it can be destroyed and redeployed alone.
      for (const artifact of synth.assembly.stacks) expect(artifact.dependencies.map((d) => d.id), artifact.stackName).not.toContain(`Signet-Monitoring-${region}`);
    }
  });

  it('passes cdk-nag in the replica region too', () => {
    expect(new AwsSolutionsChecks().validateScope(synth.app).violations).toEqual([]);
  });

  it('protects the stateful stacks against deletion, not the stateless ones', () => {
    const protectedStacks = synth.assembly.stacks.filter((s) => s.terminationProtection).map((s) => s.stackName).sort();
    expect(protectedStacks).toEqual(['Signet-Keys-eu-central-1', 'Signet-Keys-eu-west-1', 'Signet-Storage-eu-central-1', 'Signet-Storage-eu-west-1']);
  });
});
