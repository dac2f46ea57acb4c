/**
 * The key policy every Signet KMS key starts from: CDK's default (the account may use and
 * administer the key, IAM policies decide who) minus `kms:CreateGrant`, which is allowed
 * only for grants an AWS service creates for a resource (`kms:GrantIsForAWSResource`).
 * A grant lives outside IAM and the key policy, so an `kms:*` on the key would let any
 * principal with a broad IAM policy hand the key on to anyone, invisibly to both.
 * No Signet code creates grants (signing roles get `kms:Sign` through IAM).
 */
import * as iam from 'aws-cdk-lib/aws-iam';

export const GRANT_FOR_AWS_RESOURCE = { Bool: { 'kms:GrantIsForAWSResource': 'true' } } as const;

/**
 * The same rule as a deny, which no IAM policy can override: a grant neither for an AWS
 * resource nor made by an AWS service is refused to everyone (AWS Control Tower's
 * CT.KMS.PR.3 asks for exactly this statement).
 */
export const DENY_OTHER_GRANTS = { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' } } as const;

/** A fresh document per key: statements added later (a service principal) go to that key only. */
export function accountKeyPolicy(): iam.PolicyDocument {
  const account = new iam.AccountRootPrincipal();
  return new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({ sid: 'AccountAdministersAndUses', principals: [account], notActions: ['kms:CreateGrant'], resources: ['*'] }),
      new iam.PolicyStatement({
        sid: 'GrantsOnlyForAwsResources',
        principals: [account],
        actions: ['kms:CreateGrant'],
        resources: ['*'],
        conditions: GRANT_FOR_AWS_RESOURCE,
      }),
      new iam.PolicyStatement({
        sid: 'NoGrantsOtherwise',
        effect: iam.Effect.DENY,
        principals: [new iam.StarPrincipal()],
        actions: ['kms:CreateGrant'],
        resources: ['*'],
        conditions: DENY_OTHER_GRANTS,
      }),
    ],
  });
}
