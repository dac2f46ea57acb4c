/**
 * The CI pipeline's publishing role. GitHub Actions runs of one branch of one repository
 * assume it with the run's OIDC token (no AWS keys stored in CI), for an hour at most, and
 * may do what `signet publish` and `signet promote` need, nothing else: upload targets,
 * read metadata, and call the publish and rollout routes of the HTTP API. It cannot upload
 * a new root (signed offline by ops), touch a license, or sign snapshot/timestamp metadata.
 */
import { Duration } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { metadataSpace, targetsSpace } from '#lib/definitions/bucket.ts';
import type { RouteDefinition } from '#lib/definitions/routes.ts';
import { routeKey } from '#lib/definitions/routes.ts';
import type { SignetConfig } from '../config.ts';
import { acknowledgeWildcardResources } from '../nag.ts';

export const GITHUB_OIDC_ISSUER = 'token.actions.githubusercontent.com';
/** The audience aws-actions/configure-aws-credentials requests its token for. */
export const STS_AUDIENCE = 'sts.amazonaws.com';

/** The routes CI calls: state, commit, promote, halt, audit. Not `PUT /v1/admin/repository/root`. */
export const PUBLISHING_ROUTE_KEYS: readonly string[] = [
  'GET /v1/admin/repository',
  'POST /v1/admin/releases',
  'POST /v1/admin/channels/{product}/{channel}/promote',
  'POST /v1/admin/channels/{product}/{channel}/halt',
  'GET /v1/admin/audit',
];

export interface PublishingRoleProps {
  readonly github: NonNullable<SignetConfig['github']>;
  readonly api: apigwv2.IHttpApi;
  /** The stage CI calls (`$default`): part of every execute-api ARN. */
  readonly stageName: string;
  /** The API's routes; every key of PUBLISHING_ROUTE_KEYS must be among them, IAM-authorized. */
  readonly routes: readonly RouteDefinition[];
  readonly bucket: s3.IBucket;
}

export class PublishingRole extends Construct {
  readonly role: iam.Role;
  readonly oidcProviderArn: string;

  constructor(scope: Construct, id: string, props: PublishingRoleProps) {
    super(scope, id);
    const { github, bucket } = props;

    this.oidcProviderArn =
      github.oidcProviderArn ??
      new iam.OidcProviderNative(this, 'GitHubOidcProvider', { url: `https://${GITHUB_OIDC_ISSUER}`, clientIds: [STS_AUDIENCE] }).oidcProviderArn;

    this.role = new iam.Role(this, 'Role', {
      description: `Signet: CI publishing (${github.repository}, branch ${github.branch}) through GitHub OIDC`,
      assumedBy: new iam.WebIdentityPrincipal(this.oidcProviderArn, {
        StringEquals: {
          [`${GITHUB_OIDC_ISSUER}:aud`]: STS_AUDIENCE,
          // Exactly this branch of this repository; a job with `environment:` has another sub.
          [`${GITHUB_OIDC_ISSUER}:sub`]: `repo:${github.repository}:ref:refs/heads/${github.branch}`,
        },
      }),
      maxSessionDuration: Duration.hours(1),
    });

    const invokable = PUBLISHING_ROUTE_KEYS.map((key) => {
      const route = props.routes.find((r) => routeKey(r) === key);
      if (!route) throw new Error(`${this.node.path}: the publishing route ${key} is not among the API's routes`);
      if (route.authorization !== 'iam') throw new Error(`${this.node.path}: the publishing route ${key} must be "iam"-authorized`);
      // {product} and {channel} are single path segments at request time.
      return props.api.arnForExecuteApi(route.method, route.path.replace(/\{[^}/]+\}/g, '*'), props.stageName);
    });
    const statements = [
      new iam.PolicyStatement({ sid: 'InvokePublishingRoutes', actions: ['execute-api:Invoke'], resources: invokable }),
      // lib-storage aborts a failed multipart upload: without AbortMultipartUpload its
      // AccessDenied would replace the upload's own error.
      new iam.PolicyStatement({
        sid: 'UploadTargets',
        actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'],
        resources: [bucket.arnForObjects(`${targetsSpace.prefix}*`)],
      }),
      new iam.PolicyStatement({ sid: 'ReadMetadata', actions: ['s3:GetObject'], resources: [bucket.arnForObjects(`${metadataSpace.prefix}*`)] }),
      // `signet publish` lists what the bucket already holds under targets/<product>/ (one listing, not a HEAD per file).
      new iam.PolicyStatement({
        sid: 'ListTargets',
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': `${targetsSpace.prefix}*` } },
      }),
    ];
    for (const statement of statements) this.role.addToPrincipalPolicy(statement);

    const policy = this.role.node.findChild('DefaultPolicy');
    if (!(policy instanceof iam.Policy)) throw new Error(`${this.role.node.path} has no default policy`);
    acknowledgeWildcardResources(
      policy,
      (_resource, statement) => statement.Sid === 'UploadTargets' || statement.Sid === 'ReadMetadata',
      `object-level S3 access needs an object ARN pattern; CI may upload and read under ${targetsSpace.prefix} and read under ${metadataSpace.prefix} ` +
        'of the one signature bucket, no delete',
    );
    acknowledgeWildcardResources(
      policy,
      (resource, statement) => statement.Sid === 'InvokePublishingRoutes' && resource.includes('/v1/admin/channels/*/*/'),
      'the promote and halt routes take {product} and {channel} path parameters: the "*" stands for those two segments of those two routes only',
    );
  }
}
