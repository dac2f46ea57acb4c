/**
 * cdk-nag v3 acknowledgements, kept next to the resource they concern. v3 matches a
 * finding by its exact id (`AwsSolutions-IAM5[Resource::...]`), never by rule prefix, so
 * every acknowledgement names one finding and carries its own reason.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import type { IConstruct } from 'constructs';

export interface Acknowledgement {
  readonly id: string;
  readonly reason: string;
}

export function acknowledge(scope: IConstruct, ...rules: Acknowledgement[]): void {
  Validations.of(scope).acknowledge(...rules);
}

/** The reason every Lambda function gives for AwsSolutions-L1 (a newer Node runtime exists). */
export const NODE_22_REASON = 'Node 22 is the runtime the project builds and tests for (bundles target node22, the layer is built for nodejs22.x); Node 24 is not checked yet';

export interface PolicyStatementJson {
  readonly Sid?: string;
  readonly Effect?: string;
  readonly Action?: string | readonly string[];
  readonly Resource?: unknown;
}

/**
 * Acknowledges AwsSolutions-IAM5 wildcard-resource findings whose text is only known once
 * cross-stack references are resolved: a reference to another stack renders as
 * `Fn::GetStackOutput`, and the finding id embeds it. The ids are computed during
 * synthesis from the same policy document nag reads, and only for the resources
 * `matches` selects, so a wildcard nobody meant is still reported.
 */
export function acknowledgeWildcardResources(
  policy: iam.Policy,
  matches: (resource: string, statement: PolicyStatementJson) => boolean,
  reason: string,
): void {
  const cfnPolicy = policy.node.defaultChild as iam.CfnPolicy;
  policy.node.addValidation({
    validate: () => {
      const document = Stack.of(cfnPolicy).resolve(cfnPolicy.policyDocument) as { Statement?: PolicyStatementJson[] };
      for (const statement of document.Statement ?? []) {
        if (statement.Effect !== 'Allow') continue;
        for (const resource of [statement.Resource].flat()) {
          const flat = flattenCfnReference(resource);
          if (flat.includes('*') && matches(flat, statement)) {
            acknowledge(cfnPolicy, { id: `AwsSolutions-IAM5[Resource::${flat}]`, reason });
          }
        }
      }
      return [];
    },
  });
}
