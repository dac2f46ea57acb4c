/**
 * No policy in any template lets a principal create a KMS grant for anything but an AWS
 * resource: a grant lives outside IAM and the key policy, so a broad `kms:*` would let the
 * key be handed on invisibly (docs/cdk.md, "Keys"). Checked on every statement of every
 * key policy and IAM policy, with a publishing role and a replica region in the app.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DENY_OTHER_GRANTS, GRANT_FOR_AWS_RESOURCE } from '../../cdk/constructs/key-policy.ts';
import type { CfnTemplate, SynthesizedApp } from './support.ts';
import { synthSignet, withReplicas } from './support.ts';

interface Statement {
  readonly Sid?: string;
  readonly Effect: string;
  readonly Action?: string | string[];
  readonly NotAction?: string | string[];
  readonly Condition?: Record<string, unknown>;
}

/** IAM's action matching: case-insensitive, `*` and `?` as wildcards. */
function matchesAction(pattern: string, action: string): boolean {
  const regex = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${regex}$`, 'i').test(action);
}

function allows(statement: Statement, action: string): boolean {
  if (statement.Effect !== 'Allow') return false;
  if (statement.Action !== undefined) return [statement.Action].flat().some((pattern) => matchesAction(pattern, action));
  return ![statement.NotAction ?? []].flat().some((pattern) => matchesAction(pattern, action));
}

/** Every policy statement of a template: key policies, IAM policies, roles' inline and managed policies, resource policies. */
function statementsOf(template: CfnTemplate): Array<[string, Statement]> {
  const found: Array<[string, Statement]> = [];
  const visit = (where: string, value: unknown): void => {
    if (Array.isArray(value)) value.forEach((item, i) => visit(`${where}.${i}`, item));
    else if (value && typeof value === 'object') {
      const record = value as Record<string, unknown>;
      if (Array.isArray(record.Statement) && typeof record.Version === 'string') {
        for (const statement of record.Statement as Statement[]) found.push([where, statement]);
      } else for (const [key, child] of Object.entries(record)) visit(`${where}.${key}`, child);
    }
  };
  for (const [logicalId, resource] of Object.entries(template.Resources)) visit(logicalId, resource.Properties);
  return found;
}

/** Statements that allow kms:CreateGrant without requiring that the grant is for an AWS resource. */
function unrestrictedGrants(template: CfnTemplate): string[] {
  return statementsOf(template)
    .filter(([, statement]) => allows(statement, 'kms:CreateGrant'))
    .filter(([, statement]) => JSON.stringify(statement.Condition?.Bool) !== JSON.stringify(GRANT_FOR_AWS_RESOURCE.Bool))
    .map(([where, statement]) => `${where} ${statement.Sid ?? ''}`);
}

let synth: SynthesizedApp;
beforeAll(() => {
  synth = synthSignet({ signet: { github: { repository: 'acme/signatures' }, ...withReplicas(['eu-central-1']) } });
});
afterAll(() => synth?.dispose());

describe('kms:CreateGrant', () => {
  it('is allowed nowhere without kms:GrantIsForAWSResource, in any stack', () => {
    const stacks = synth.assembly.stacks;
    expect(stacks.length).toBe(9);
    for (const stack of stacks) expect(unrestrictedGrants(stack.template as CfnTemplate), stack.stackName).toEqual([]);
  });

  it('is checked on every key (negative control: the policy CDK writes by default would fail)', () => {
    const keys = synth.assembly.stacks.flatMap((stack) =>
      Object.values((stack.template as CfnTemplate).Resources).filter((r) => r.Type === 'AWS::KMS::Key' || r.Type === 'AWS::KMS::ReplicaKey'),
    );
    // Three signing keys and their replicas in the replica region, an alarm-topic key per region.
    expect(keys.length).toBe(3 + 3 + 2);
    for (const key of keys) {
      const sids = (key.Properties?.KeyPolicy as { Statement: Statement[] }).Statement.map((s) => s.Sid);
      expect(sids).toEqual(expect.arrayContaining(['AccountAdministersAndUses', 'GrantsOnlyForAwsResources']));
      // And the deny no IAM policy overrides, as AWS Control Tower's CT.KMS.PR.3 words it.
      expect((key.Properties?.KeyPolicy as { Statement: unknown[] }).Statement).toContainEqual({
        Sid: 'NoGrantsOtherwise',
        Effect: 'Deny',
        Principal: '*',
        Action: 'kms:CreateGrant',
        Resource: '*',
        Condition: DENY_OTHER_GRANTS,
      });
    }
    const cdkDefault: CfnTemplate = {
      Resources: { Key: { Type: 'AWS::KMS::Key', Properties: { KeyPolicy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:*', Principal: { AWS: 'x' }, Resource: '*' }] } } } },
    };
    expect(unrestrictedGrants(cdkDefault)).toEqual(['Key.KeyPolicy ']);
    const notAction: CfnTemplate = {
      Resources: { P: { Type: 'AWS::IAM::Policy', Properties: { PolicyDocument: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', NotAction: 's3:*', Resource: '*' }] } } } },
    };
    expect(unrestrictedGrants(notAction)).toHaveLength(1);
  });
});
