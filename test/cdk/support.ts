/**
 * Synthesizes the real app for the CDK tests: the same `createSignetApp` the CLI runs,
 * with cdk.json's context (feature flags and the `signet` block), into a temporary
 * directory, cdk-nag included. Each test file synthesizes once, in `beforeAll`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import type { CreatedApp } from '../../cdk/signet.ts';
import { createSignetApp } from '../../cdk/signet.ts';

export const cdkJsonContext = (JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as { context: Record<string, unknown> })
  .context;

/** cdk.json's context with some `signet` fields changed. */
export function contextWith(signet: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...cdkJsonContext, ...extra, signet: { ...(cdkJsonContext.signet as Record<string, unknown>), ...signet } };
}

export interface SynthesizedApp extends CreatedApp {
  readonly assembly: CloudAssembly;
  readonly outdir: string;
  template(stack: Stack): Template;
  /** The synthesized template as plain JSON. */
  json(stack: Stack): CfnTemplate;
  dispose(): void;
}

export interface CfnTemplate {
  readonly Resources: Record<string, CfnResourceJson>;
  readonly Outputs?: Record<string, unknown>;
}

export interface CfnResourceJson {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly DeletionPolicy?: string;
  readonly UpdateReplacePolicy?: string;
  readonly DependsOn?: unknown;
}

/**
 * CDK's own switch for "bundle the assets of no stack". Measured here: a whole-app synth
 * takes ~2.5 s without bundling and ~5 s with it (most of it the shared-deps layer's
 * build, the function bundles ~0.2 s each). Only the tests that look at bundles bundle.
 */
export const SKIP_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

export function synthSignet(options: { signet?: Record<string, unknown>; bundle?: boolean } = {}): SynthesizedApp {
  const outdir = mkdtempSync(path.join(tmpdir(), 'signet-cdk-'));
  const context = contextWith(options.signet, options.bundle ? {} : SKIP_BUNDLING);
  const created = createSignetApp({ context, outdir, env: {} });
  // Throws when cdk-nag (or any validation plugin) reports an error.
  const assembly = created.app.synth();
  const templates = new Map<Stack, Template>();
  const json = (stack: Stack): CfnTemplate => assembly.getStackArtifact(stack.artifactId).template as CfnTemplate;
  return {
    ...created,
    assembly,
    outdir,
    json,
    template(stack) {
      let template = templates.get(stack);
      if (!template) templates.set(stack, (template = Template.fromJSON(json(stack) as unknown as Record<string, unknown>)));
      return template;
    },
    dispose() {
      rmSync(outdir, { recursive: true, force: true });
    },
  };
}

/** Resources of one type, by logical id. */
export function resourcesOfType(template: CfnTemplate, type: string): Array<[string, CfnResourceJson]> {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

export function onlyResource(template: CfnTemplate, type: string): [string, CfnResourceJson] {
  const found = resourcesOfType(template, type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0] as [string, CfnResourceJson];
}

export interface PolicyStatementJson {
  readonly Sid?: string;
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: Record<string, unknown>;
}

/** The statements of every IAM policy whose logical id starts with `prefix`. */
export function policyStatements(template: CfnTemplate, prefix = ''): PolicyStatementJson[] {
  return resourcesOfType(template, 'AWS::IAM::Policy')
    .filter(([logicalId]) => logicalId.startsWith(prefix))
    .flatMap(([, policy]) => (policy.Properties as { PolicyDocument: { Statement: PolicyStatementJson[] } }).PolicyDocument.Statement);
}

/** Every action of the statements, one by one. */
export function actionsOf(statements: readonly PolicyStatementJson[]): string[] {
  return statements.flatMap((s) => [s.Action].flat());
}

/**
 * `replicaRegions` with the `apiDomain` they need (cdk/config.ts): the example values of
 * CI's three-region synth (.ci/run), a certificate per region.
 */
export function withReplicas(replicaRegions: readonly string[], primaryRegion = 'eu-west-1'): Record<string, unknown> {
  const certificateArns = Object.fromEntries(
    [primaryRegion, ...replicaRegions].map((region, i) => [region, `arn:aws:acm:${region}:123456789012:certificate/00000000-0000-4000-8000-00000000000${i + 1}`]),
  );
  return {
    replicaRegions,
    apiDomain: { domainName: 'api.updates.example.com', hostedZoneId: 'Z0123456789ABCDEFGHIJ', hostedZoneName: 'updates.example.com', certificateArns },
  };
}
