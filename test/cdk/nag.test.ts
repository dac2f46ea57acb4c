import { readFileSync } from 'node:fs';
import path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SynthesizedApp } from './support.ts';
import { synthSignet, withReplicas } from './support.ts';

interface Violation {
  readonly ruleName: string;
  readonly severity: string;
  readonly violatingResources: ReadonlyArray<{ readonly constructPath?: string }>;
}

interface AcknowledgementRecord {
  readonly id: string;
  readonly reason: string;
  readonly path: string;
  readonly isStack: boolean;
}

/** All findings of the pack with acknowledgements ignored: what the code would be flagged for. */
function rawFindings(scope: IConstruct): Violation[] {
  const pack = new AwsSolutionsChecks();
  Object.defineProperty(pack, 'isAcknowledged', { value: () => false });
  return pack.validateScope(scope).violations as Violation[];
}

function acknowledgements(root: IConstruct): AcknowledgementRecord[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([key, reason]) => ({
          id: key.replace(/^annotation::/i, ''),
          reason,
          path: construct.node.path,
          isStack: Stack.isStack(construct),
        })),
      ),
  );
}

const VARIANTS = [
  ['the cdk.json configuration', {}, ['Signet-Api-eu-west-1', 'Signet-Global-us-east-1', 'Signet-Keys-eu-west-1', 'Signet-Monitoring-eu-west-1', 'Signet-Storage-eu-west-1']],
  [
    'a publishing role and a replica region',
    { github: { repository: 'acme/signatures' }, ...withReplicas(['eu-central-1']) },
    [
      'Signet-Api-eu-central-1',
      'Signet-Api-eu-west-1',
      'Signet-Global-us-east-1',
      'Signet-Keys-eu-central-1',
      'Signet-Keys-eu-west-1',
      'Signet-Monitoring-eu-central-1',
      'Signet-Monitoring-eu-west-1',
      'Signet-Storage-eu-central-1',
      'Signet-Storage-eu-west-1',
    ],
  ],
] as const;

describe.each(VARIANTS)('cdk-nag AwsSolutions, %s', (_name, signet, stackNames) => {
  let synth: SynthesizedApp;
  let stacks: Stack[];

  beforeAll(() => {
    // The app as `cdk synth` builds it (asset bundling skipped: it changes no resource nag
    // inspects); synth throws on any cdk-nag error, so getting past this line is the first assertion.
    synth = synthSignet({ signet });
    stacks = synth.app.node.children.filter((c): c is Stack => Stack.isStack(c));
  });
  afterAll(() => synth?.dispose());

  it('leaves no error and no warning in the validation report of the synthesized app', () => {
    const report = JSON.parse(readFileSync(path.join(synth.assembly.directory, 'validation-report.json'), 'utf8')) as {
      pluginReports: Array<{ pluginName: string; violations?: Violation[] }>;
    };
    const nag = report.pluginReports.filter((r) => r.pluginName.includes('AwsSolutions')).flatMap((r) => r.violations ?? []);
    expect(nag).toEqual([]);
    expect(new AwsSolutionsChecks().validateScope(synth.app).violations).toEqual([]);
  });

  it('leaves no AwsSolutions (or any other) warning or error annotation on any stack', () => {
    expect(stacks.map((s) => s.stackName).sort()).toEqual(stackNames);
    for (const stack of stacks) {
      const annotations = Annotations.fromStack(stack);
      expect(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
      expect(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
      expect(annotations.findWarning('*', Match.anyValue())).toEqual([]);
      expect(annotations.findError('*', Match.anyValue())).toEqual([]);
    }
  });

  it('acknowledges each finding where it arises, with a reason, never stack-wide', () => {
    const acks = acknowledgements(synth.app);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.isStack, `${ack.id} acknowledged on stack ${ack.path}`).toBe(false);
      expect(ack.reason.length, `${ack.id} at ${ack.path} needs a real reason`).toBeGreaterThanOrEqual(40);
    }
  });

  it('acknowledges only findings that exist: every acknowledgement covers a real finding on its construct', () => {
    const raw = rawFindings(synth.app);
    const nagAcks = acknowledgements(synth.app).filter((ack) => ack.id.startsWith('AwsSolutions-'));
    for (const ack of nagAcks) {
      const covered = raw.some((v) => v.ruleName === ack.id && v.violatingResources.some((r) => r.constructPath?.startsWith(ack.path)));
      expect(covered, `stale acknowledgement ${ack.id} at ${ack.path}`).toBe(true);
    }
    for (const violation of raw) {
      for (const resource of violation.violatingResources) {
        const acked = nagAcks.some((ack) => ack.id === violation.ruleName && resource.constructPath?.startsWith(ack.path));
        expect(acked, `unacknowledged ${violation.ruleName} at ${resource.constructPath}`).toBe(true);
      }
    }
  });

  it('lists every acknowledged rule in docs/cdk.md', () => {
    const docs = readFileSync(new URL('../../docs/cdk.md', import.meta.url), 'utf8');
    for (const ack of acknowledgements(synth.app)) {
      const rule = ack.id.replace(/\[.*$/, '');
      expect(docs, `docs/cdk.md does not mention ${rule}`).toContain(rule);
    }
  });

  it('allows no wildcard action in any policy of any stack', () => {
    for (const stack of stacks) {
      const statements = Object.values(synth.json(stack).Resources)
        .filter((r) => r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy')
        .flatMap((r) => (r.Properties as { PolicyDocument: { Statement: Array<{ Effect: string; Action: string | string[] }> } }).PolicyDocument.Statement);
      for (const statement of statements.filter((s) => s.Effect === 'Allow')) {
        for (const action of [statement.Action].flat()) {
          expect(action, `${stack.stackName}: ${action}`).not.toMatch(/^\*$|:\*$/);
        }
      }
      for (const role of Object.values(synth.json(stack).Resources).filter((r) => r.Type === 'AWS::IAM::Role')) {
        expect(role.Properties?.ManagedPolicyArns, `${stack.stackName} role with a managed policy`).toBeUndefined();
        expect(role.Properties?.Policies, `${stack.stackName} role with inline policies`).toBeUndefined();
      }
    }
  });
});

describe('cdk-nag negative control', () => {
  it('does report findings: an unprotected bucket fails the same checks (negative control)', () => {
    const app = new App();
    const stack = new Stack(app, 'Control');
    new s3.Bucket(stack, 'Plain');
    const rules = new AwsSolutionsChecks().validateScope(app).violations.map((v) => v.ruleName);
    expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-S1', 'AwsSolutions-S10']));
  });
});
