/**
 * Copies of an SSM String parameter in other regions, kept equal to it: the CDN identity
 * (`cdnParameterName`) is known only to the global stack, in us-east-1, and each region's
 * functions read it in their own region, so that a region reads nothing of another region
 * at cold start (docs/cdk.md, "The CDN identity parameter"). An `AwsCustomResource` per
 * region puts the value (create and update) and deletes it (delete), with a role that may
 * do exactly that on exactly those parameters.
 */
import { Stack } from 'aws-cdk-lib';
import type { RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { AwsCustomResource, AwsCustomResourcePolicy, PhysicalResourceId } from 'aws-cdk-lib/custom-resources';
import type { AwsSdkCall } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { ssmParameterArn } from './signet-function.ts';

export interface RegionalParameterCopiesProps {
  readonly parameterName: string;
  readonly description: string;
  /** The value, as the original parameter holds it (may contain tokens of this stack). */
  readonly value: string;
  /** Where copies go; the stack's own region is left out (the original lives there). */
  readonly regions: readonly string[];
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

export class RegionalParameterCopies extends Construct {
  /** The custom resource of each region a copy is kept in. */
  readonly copies: ReadonlyMap<string, AwsCustomResource>;

  constructor(scope: Construct, id: string, props: RegionalParameterCopiesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const regions = props.regions.filter((r) => r !== stack.region);
    const copies = new Map<string, AwsCustomResource>();
    this.copies = copies;
    if (regions.length === 0) return;

    // Ours, not CDK's default: that one carries AWSLambdaBasicExecutionRole (any log group)
    // and its log group never expires.
    const logGroup = new logs.LogGroup(this, 'LogGroup', { retention: props.logRetention, removalPolicy: props.logRemovalPolicy });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Signet: copies ${props.parameterName} to ${regions.join(', ')}`,
    });
    logGroup.grantWrite(role);

    for (const region of regions) {
      const put: AwsSdkCall = {
        service: 'SSM',
        action: 'putParameter',
        region,
        parameters: { Name: props.parameterName, Description: props.description, Value: props.value, Type: 'String', Tier: 'Standard', Overwrite: true },
        physicalResourceId: PhysicalResourceId.of(`${props.parameterName}@${region}`),
      };
      copies.set(
        region,
        new AwsCustomResource(this, `Copy-${region}`, {
          resourceType: 'Custom::SignetParameterCopy',
          onCreate: put,
          onUpdate: put,
          onDelete: { service: 'SSM', action: 'deleteParameter', region, parameters: { Name: props.parameterName }, ignoreErrorCodesMatching: 'ParameterNotFound' },
          policy: AwsCustomResourcePolicy.fromStatements([
            new iam.PolicyStatement({ actions: ['ssm:PutParameter', 'ssm:DeleteParameter'], resources: [ssmParameterArn(stack, props.parameterName, region)] }),
          ]),
          role,
          logGroup,
          installLatestAwsSdk: false,
        }),
      );
    }
  }
}
