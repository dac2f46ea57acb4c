/**
 * The one way this app makes a Lambda function: every safe default set once (Node 22 on
 * ARM64, an ESM bundle with source maps, its own log group with retention, its own role),
 * and intent methods that set an environment variable and the matching IAM grant together,
 * so a function can never hold a table name it may not use, or a grant it has no name for.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArnFormat, Stack } from 'aws-cdk-lib';
import type { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { RuntimeKey, RuntimeSettings, VariableKey } from '#lib/config.ts';
import { variables } from '#lib/config.ts';
import { metadataSpace, pathSpaces, replicaViewPrefix, stagingPrefix, targetsSpace, timestampKey } from '#lib/definitions/bucket.ts';
import type { Access } from '#lib/definitions/routes.ts';
import type { TableDefinition } from '#lib/definitions/tables.ts';
import type { OnlineRole } from '#lib/tuf/online-signers.ts';
import { NODE_22_REASON, acknowledge, acknowledgeWildcardResources } from '../nag.ts';
import { writesReplicaViews } from './bucket-replication.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * esbuild's ESM output has no `require`; bundled CommonJS (the AWS SDK's dependencies)
 * that calls `require('node:https')` would throw "Dynamic require of node:https is not
 * supported" without it.
 */
export const CREATE_REQUIRE_BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

export const RUNTIME = lambda.Runtime.NODEJS_22_X;

const SIGNING_SIDS: Record<OnlineRole, string> = { snapshot: 'SignSnapshotMetadata', timestamp: 'SignTimestampMetadata' };
const SIGNING_KEY_VARIABLES: Record<OnlineRole, VariableKey> = { snapshot: 'snapshotKmsKey', timestamp: 'timestampKmsKey' };
export const ARCHITECTURE = lambda.Architecture.ARM_64;

export interface SignetFunctionProps {
  /** Handler module relative to the repository root; it exports `handler`. */
  readonly entry: string;
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly logRetention: logs.RetentionDays;
  /** Applies to the log group; the function itself is stateless. */
  readonly logRemovalPolicy: RemovalPolicy;
  /**
   * The runtime settings the function reads (lib/config.ts), and the deployment's values
   * for them: each becomes its environment variable. Resource variables come from the
   * bind methods.
   * @default - none
   */
  readonly settings?: { readonly keys: readonly RuntimeKey[]; readonly values: RuntimeSettings };
  /** The shared-deps layer; pass the packages it provides as `externalModules`. @default - no layer */
  readonly layer?: lambda.ILayerVersion;
  /**
   * Bare specifiers left out of the bundle because `layer` provides them.
   * @default [] - everything is bundled, the AWS SDK included (a pinned, tested version
   * rather than whatever the runtime ships)
   */
  readonly externalModules?: readonly string[];
}

export class SignetFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  /** The variables (lib/config.ts) this construct has set so far: what the function can read. */
  readonly variablesSet = new Set<VariableKey>();

  constructor(scope: Construct, id: string, props: SignetFunctionProps) {
    super(scope, id);
    if (props.layer === undefined && (props.externalModules?.length ?? 0) > 0) {
      throw new Error(`${this.node.path}: externalModules without a layer would leave ${props.externalModules?.join(', ')} unresolvable at run time`);
    }

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });
    // Its own role, not AWSLambdaBasicExecutionRole: that managed policy may write to any log group.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.description} (Lambda execution role)`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry: path.join(REPO_ROOT, props.entry),
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      description: props.description,
      runtime: RUNTIME,
      architecture: ARCHITECTURE,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      // NodejsFunction ships the map; Node only applies it to stack traces when told to.
      environment: { NODE_OPTIONS: '--enable-source-maps' },
      layers: props.layer ? [props.layer] : [],
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: true,
        // Mappings alone give file:line in stack traces; the sources would double the asset.
        sourcesContent: false,
        banner: CREATE_REQUIRE_BANNER,
        externalModules: [...(props.externalModules ?? [])],
      },
    });
    acknowledge(this.function, { id: 'AwsSolutions-L1', reason: NODE_22_REASON });
    for (const key of props.settings?.keys ?? []) this.setVariable(key, String(props.settings?.values[key]));
  }

  /** Sets one declared variable; every environment variable of the function goes through here. */
  private setVariable(key: VariableKey, value: string): void {
    this.function.addEnvironment(variables[key].name, value);
    this.variablesSet.add(key);
  }

  /** Sets the table's environment variable and grants exactly the access the definition names. */
  bindTable(table: ITableV2, definition: TableDefinition, access: Access): this {
    this.setVariable(definition.variable, table.tableName);
    if (access === 'write') table.grantReadWriteData(this.function);
    else table.grantReadData(this.function);
    if (definition.globalSecondaryIndexes.length > 0) {
      acknowledgeWildcardResources(
        this.defaultPolicy(),
        (resource) => resource.endsWith('/index/*'),
        `TableV2.grant${access === 'write' ? 'ReadWrite' : 'Read'}Data adds "<table ARN>/index/*": the indexes of the ${definition.id} table only ` +
          `(${definition.globalSecondaryIndexes.map((i) => i.indexName).join(', ')}, all defined in lib/definitions/tables.ts), never another table's`,
      );
    }
    return this;
  }

  /**
   * Sets the bucket variable (`SIGNET_BUCKET`) and grants object access under the published prefixes only
   * (lib/definitions/bucket.ts), never a delete: targets and versioned metadata are
   * immutable once published.
   * - `read`: GetObject under `metadata/` and `targets/`.
   * - `write` (the release functions): GetObject and PutObject under `metadata/`, which they
   *   write, and under `staging/`, where a release commit puts its new metadata before the
   *   commit point and reads it back to copy it to `metadata/` after it (never served:
   *   neither CloudFront nor CI may read it); GetObject under `targets/`, which CI uploads
   *   and they only check; and
   *   `s3:ListBucket` on the bucket, because they ask whether an object exists
   *   (`ObjectStore.exists`, a HEAD) and S3 answers a missing key with 404 only to a caller
   *   that may list the bucket, with 403 to any other, which `exists` cannot tell from a
   *   real denial. No prefix condition: a HEAD request carries no `s3:prefix` to match.
   */
  bindBucket(bucket: IBucket, access: Access): this {
    this.setVariable('bucket', bucket.bucketName);
    // A writer of timestamp.json also writes replica views when the bucket replicates (lib/releases/replication.ts).
    const views = access === 'write' && writesReplicaViews(bucket);
    if (access === 'write') this.setVariable('replicaViews', String(views));
    const objects = (prefix: string) => bucket.arnForObjects(`${prefix}*`);
    const statements =
      access === 'write'
        ? [
            new iam.PolicyStatement({ sid: 'SignetMetadataReadWrite', actions: ['s3:GetObject', 's3:PutObject'], resources: [objects(metadataSpace.prefix)] }),
            new iam.PolicyStatement({ sid: 'SignetStagingReadWrite', actions: ['s3:GetObject', 's3:PutObject'], resources: [objects(stagingPrefix)] }),
            ...(views ? [new iam.PolicyStatement({ sid: 'SignetReplicaViewsWrite', actions: ['s3:PutObject'], resources: [objects(replicaViewPrefix)] })] : []),
            new iam.PolicyStatement({ sid: 'SignetTargetsRead', actions: ['s3:GetObject'], resources: [objects(targetsSpace.prefix)] }),
            new iam.PolicyStatement({ sid: 'SignetBucketMissingKeys', actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }),
          ]
        : [new iam.PolicyStatement({ sid: 'SignetPublishedRead', actions: ['s3:GetObject'], resources: pathSpaces.map((space) => objects(space.prefix)) })];
    for (const statement of statements) this.role.addToPrincipalPolicy(statement);
    const objectSids = new Set(['SignetMetadataReadWrite', 'SignetStagingReadWrite', 'SignetReplicaViewsWrite', 'SignetTargetsRead', 'SignetPublishedRead']);
    const prefixes = [...pathSpaces.map((s) => s.prefix), ...(access === 'write' ? [stagingPrefix] : []), ...(views ? [replicaViewPrefix] : [])];
    acknowledgeWildcardResources(
      this.defaultPolicy(),
      (_resource, statement) => statement.Sid !== undefined && objectSids.has(statement.Sid),
      `object-level S3 access needs an object ARN pattern; it is limited to the prefixes ${prefixes.join(', ')} of the one signature bucket ` +
        (access === 'write'
          ? `(Get/Put under ${metadataSpace.prefix} and ${stagingPrefix}, ${views ? `Put under ${replicaViewPrefix}, ` : ''}Get under ${targetsSpace.prefix}; no delete)`
          : `(Get only; no write, no delete)`),
    );
    return this;
  }

  /**
   * A replica region's promoter (lib/releases/replication.ts) on its bucket: sets `bucket`
   * and grants what one run needs and no more: ListBucket (it lists the views and what has
   * arrived, and tells a missing key from a denial), GetObject under `metadata/` and the
   * replica views, and PutObject on the one key it serves, `metadata/timestamp.json`. No
   * delete, no read of targets (it only lists them).
   */
  bindReplicaPromotion(bucket: IBucket): this {
    this.setVariable('bucket', bucket.bucketName);
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReplicaListArrived', actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }));
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ReplicaReadViews', actions: ['s3:GetObject'], resources: [metadataSpace.prefix, replicaViewPrefix].map((prefix) => bucket.arnForObjects(`${prefix}*`)) }),
    );
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReplicaServeTimestamp', actions: ['s3:PutObject'], resources: [bucket.arnForObjects(timestampKey)] }));
    acknowledgeWildcardResources(
      this.defaultPolicy(),
      (_resource, statement) => statement.Sid === 'ReplicaReadViews',
      `object-level S3 reads need an object ARN pattern; GetObject only, under ${metadataSpace.prefix} and ${replicaViewPrefix} of this region's signature bucket`,
    );
    return this;
  }

  /**
   * Lets the function sign as a TUF online role: sets the role's key variable
   * (`snapshotKmsKey` or `timestampKmsKey`, lib/config.ts) to the key ARN and grants
   * `kms:Sign` and `kms:GetPublicKey` on that one key.
   */
  bindSigningKey(role: OnlineRole, key: IKey): this {
    this.setVariable(SIGNING_KEY_VARIABLES[role], key.keyArn);
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: SIGNING_SIDS[role], actions: ['kms:Sign', 'kms:GetPublicKey'], resources: [key.keyArn] }),
    );
    return this;
  }

  /**
   * Lets the function sign CloudFront download grants with the CDN key: sets
   * `cdnKmsKey` (`SIGNET_CDN_KMS_KEY`, lib/config.ts) to the key ARN and
   * grants `kms:Sign` on that one key, nothing else (the public half reaches CloudFront
   * through the global stack's custom resource, not through this function).
   */
  bindCdnSigningKey(key: IKey): this {
    this.setVariable('cdnKmsKey', key.keyArn);
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'SignCdnGrants', actions: ['kms:Sign'], resources: [key.keyArn] }));
    return this;
  }

  /**
   * Lets the function read the CDN's identity (`{ baseUrl, keyPairId }`) at cold start from
   * the SSM parameter the global stack writes: sets `cdnParameter` and
   * `cdnParameterRegion` (lib/config.ts) and grants `ssm:GetParameter` on exactly
   * that parameter. The ARN is built from the name, not taken from the parameter construct:
   * the global stack depends on the API stack, so a reference back would be a cycle.
   */
  bindCdnParameter(parameterName: string, region: string): this {
    if (!parameterName.startsWith('/')) throw new Error(`${this.node.path}: the CDN parameter name must be fully qualified (/signet/cdn), got ${parameterName}`);
    this.setVariable('cdnParameter', parameterName);
    this.setVariable('cdnParameterRegion', region);
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ReadCdnParameter', actions: ['ssm:GetParameter'], resources: [ssmParameterArn(Stack.of(this), parameterName, region)] }),
    );
    return this;
  }

  /**
   * Tells a `primaryOnly` function which region is the primary (`primaryRegion`): it
   * refuses to start anywhere else (lib/aws/cloud-services.ts). No grant: a name only.
   */
  bindPrimaryRegion(region: string): this {
    this.setVariable('primaryRegion', region);
    return this;
  }

  /**
   * Lets the function start the repository function (timestampRefresh) asynchronously:
   * sets `repositoryFunction` to its name and grants `lambda:InvokeFunction` on that one
   * function (its unqualified ARN: no version, no alias).
   */
  bindRepositoryFunction(target: SignetFunction): this {
    this.setVariable('repositoryFunction', target.function.functionName);
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'InvokeRepositoryFunction', actions: ['lambda:InvokeFunction'], resources: [target.function.functionArn] }));
    return this;
  }

  private defaultPolicy(): iam.Policy {
    const policy = this.role.node.tryFindChild('DefaultPolicy');
    if (!(policy instanceof iam.Policy)) throw new Error(`${this.role.node.path} has no default policy yet`);
    return policy;
  }
}

/** `arn:<partition>:ssm:<region>:<account>:parameter/<name without its leading slash>`. */
export function ssmParameterArn(stack: Stack, parameterName: string, region: string): string {
  return stack.formatArn({ service: 'ssm', region, resource: 'parameter', resourceName: parameterName.replace(/^\//, ''), arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
}
