/**
 * The public half of a KMS signing key, published to CloudFront as a public key (there is
 * no CloudFormation resource that takes it from KMS), so a key group can trust it. See
 * cdk/custom-resources/cdn-public-key/handler.ts.
 */
import { CustomResource, Duration, Stack } from 'aws-cdk-lib';
import type { RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { acknowledge } from '../nag.ts';
import { SignetFunction } from './signet-function.ts';

export interface CdnPublicKeyProps {
  /** An asymmetric SIGN_VERIFY key (ECC_NIST_P256 or RSA_2048), in any region. */
  readonly signingKey: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

export class CdnPublicKey extends Construct {
  /** The CloudFront public key id (also the `Key-Pair-Id` of URLs signed with the key). */
  readonly publicKeyId: string;

  constructor(scope: Construct, id: string, props: CdnPublicKeyProps) {
    super(scope, id);

    const handler = new SignetFunction(this, 'Handler', {
      entry: 'cdk/custom-resources/cdn-public-key/handler.ts',
      description: 'Signet: publishes the KMS CDN signing public key to CloudFront',
      memorySize: 256,
      timeout: Duration.minutes(1),
      logRetention: props.logRetention,
      logRemovalPolicy: props.logRemovalPolicy,
    });
    handler.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ReadSigningPublicKey', actions: ['kms:GetPublicKey'], resources: [props.signingKey.keyArn] }),
    );
    handler.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ManageCloudFrontPublicKeys',
        actions: ['cloudfront:CreatePublicKey', 'cloudfront:DeletePublicKey', 'cloudfront:GetPublicKey', 'cloudfront:ListPublicKeys'],
        resources: ['*'],
      }),
    );
    acknowledge(handler.role.node.findChild('DefaultPolicy'), {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'cloudfront:CreatePublicKey, DeletePublicKey, GetPublicKey and ListPublicKeys support no resource-level permissions ' +
        '(Service Authorization Reference: no resource type), so they need "*"; kms:GetPublicKey is scoped to the one key',
    });

    // The Provider's framework function runs CDK's own code: give it a role and log group
    // of ours, so it has neither the AWSLambdaBasicExecutionRole policy nor endless logs.
    const frameworkLogGroup = new logs.LogGroup(this, 'ProviderLogGroup', {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });
    const frameworkRole = new iam.Role(this, 'ProviderRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Signet: custom-resource provider framework for the CDN public key',
    });
    frameworkLogGroup.grantWrite(frameworkRole);
    const provider = new Provider(this, 'Provider', {
      onEventHandler: handler.function,
      frameworkOnEventRole: frameworkRole,
      logGroup: frameworkLogGroup,
    });
    acknowledge(frameworkRole.node.findChild('DefaultPolicy'), {
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(handler.function.node.defaultChild as lambda.CfnFunction)}.Arn>:*]`,
      reason: 'Provider grants its framework lambda:InvokeFunction on the one onEvent handler, including its versions (":*")',
    });

    const resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::CdnPublicKey',
      properties: { KeyArn: props.signingKey.keyArn },
    });
    this.publicKeyId = resource.ref;
  }
}
