import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { OnlineRole } from '#lib/tuf/online-signers.ts';
import type { CfnTemplate, SynthesizedApp } from './support.ts';
import { resourcesOfType, synthSignet } from './support.ts';

const ROLES: OnlineRole[] = ['snapshot', 'timestamp'];

let synth: SynthesizedApp;
let keys: CfnTemplate;

beforeAll(() => {
  synth = synthSignet();
  keys = synth.json(synth.stacks.keys);
});
afterAll(() => synth?.dispose());

function keyLogicalId(role: OnlineRole): string {
  return synth.stacks.keys.getLogicalId(synth.stacks.keys.onlineKeys[role].node.defaultChild as never);
}

describe('KeysStack: the TUF online keys', () => {
  it('holds the CDN key and one key per online role, nothing else', () => {
    expect(resourcesOfType(keys, 'AWS::KMS::Key')).toHaveLength(1 + ROLES.length);
    expect([...ROLES].sort()).toEqual(['snapshot', 'timestamp']);
  });

  it.each(ROLES)('%s: an asymmetric multi-Region ECC P-256 SIGN_VERIFY key, retained, 30 days to delete, no rotation', (role) => {
    const key = keys.Resources[keyLogicalId(role)];
    expect(key).toMatchObject({
      Type: 'AWS::KMS::Key',
      Properties: { KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', MultiRegion: true, PendingWindowInDays: 30 },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    // KMS refuses automatic rotation for asymmetric keys.
    expect(key?.Properties?.EnableKeyRotation).toBeUndefined();
    expect(String(key?.Properties?.Description)).toContain(`TUF ${role}`);
  });

  it.each(ROLES)('%s: alias/signet/tuf-%s names it', (role) => {
    const aliases = resourcesOfType(keys, 'AWS::KMS::Alias').filter(([, a]) => JSON.stringify(a.Properties?.TargetKeyId).includes(keyLogicalId(role)));
    expect(aliases.map(([, a]) => a.Properties?.AliasName)).toEqual([`alias/signet/tuf-${role}`]);
  });

  it('outputs each key ARN', () => {
    for (const role of ROLES) {
      expect(keys.Outputs?.[`Tuf${role[0]?.toUpperCase()}${role.slice(1)}KeyArn`]).toMatchObject({ Value: { 'Fn::GetAtt': [keyLogicalId(role), 'Arn'] } });
    }
  });

  it('delegates to IAM like the default key policy, except kms:CreateGrant, which only AWS services may use for a resource', () => {
    for (const role of ROLES) {
      const policy = keys.Resources[keyLogicalId(role)]?.Properties?.KeyPolicy as { Statement: Array<Record<string, unknown>> };
      expect(policy.Statement).toEqual([
        expect.objectContaining({ Effect: 'Allow', NotAction: 'kms:CreateGrant', Resource: '*' }),
        expect.objectContaining({ Effect: 'Allow', Action: 'kms:CreateGrant', Resource: '*', Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } } }),
        expect.objectContaining({ Effect: 'Deny', Principal: '*', Action: 'kms:CreateGrant', Resource: '*' }),
      ]);
      for (const statement of policy.Statement.filter((s) => s.Effect === 'Allow')) expect(JSON.stringify(statement.Principal)).toContain(':root');
    }
  });
});

describe('KeysStack with removalPolicy destroy', () => {
  it('deletes the online keys with the stack (after the pending window)', () => {
    const destroy = synthSignet({ signet: { removalPolicy: 'destroy' } });
    try {
      const template = destroy.json(destroy.stacks.keys);
      for (const [, key] of resourcesOfType(template, 'AWS::KMS::Key')) expect(key.DeletionPolicy).toBe('Delete');
      expect(destroy.stacks.keys.terminationProtection).toBe(false);
    } finally {
      destroy.dispose();
    }
  });
});
