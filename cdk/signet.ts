/**
 * The whole app: which stacks exist, in which regions, and how they are wired. `app.ts`
 * runs it for the CLI; the tests run the very same function, cdk-nag included.
 */
import { App, Tags, Validations } from 'aws-cdk-lib';
import type { AppProps, Environment } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { SignetConfig } from './config.ts';
import { CONTEXT_KEY, parseConfig } from './config.ts';
import { ApiStack } from './stacks/api-stack.ts';
import { GlobalStack } from './stacks/global-stack.ts';
import { KeysStack, ReplicaKeysStack } from './stacks/keys-stack.ts';
import { MonitoringStack } from './stacks/monitoring-stack.ts';
import { StorageStack } from './stacks/storage-stack.ts';

export interface RegionalStacks {
  readonly region: string;
  /** The primary's KeysStack in the primary region, its replica keys elsewhere. */
  readonly keys: KeysStack | ReplicaKeysStack;
  readonly storage: StorageStack;
  readonly api: ApiStack;
  readonly monitoring: MonitoringStack;
}

export interface SignetStacks {
  /** `regions[0]` is the primary region. */
  readonly regions: readonly RegionalStacks[];
  readonly keys: KeysStack;
  readonly global: GlobalStack;
}

export function buildSignet(app: App, config: SignetConfig): SignetStacks {
  const env = (region: string): Environment => ({ account: config.account, region });
  const stateful = { terminationProtection: config.removalPolicy === 'retain' };

  const keys = new KeysStack(app, `Signet-Keys-${config.primaryRegion}`, {
    env: env(config.primaryRegion),
    description: 'Signet signing keys (KMS)',
    config,
    ...stateful,
  });

  // A stack that reads a value of another region's stack needs this; without it, CDK
  // would force generated physical names on the referenced resources instead. The primary
  // region's storage and monitoring read the replica buckets (replication, its alarms).
  const crossRegionReferences = config.replicaRegions.length > 0;
  const storages: StorageStack[] = [];
  for (const region of config.regions) {
    const primary = storages[0];
    storages.push(
      new StorageStack(app, `Signet-Storage-${region}`, {
        env: env(region),
        crossRegionReferences,
        description: `Signet stateful storage in ${region}: signature bucket${primary ? ', global-table replicas, replica promoter' : ', DynamoDB tables'}`,
        config,
        ...(primary ? { primary } : {}),
        ...stateful,
      }),
    );
  }
  const [primaryStorage, ...replicaStorages] = storages;
  if (primaryStorage && replicaStorages.length > 0) primaryStorage.replicateTo(replicaStorages);

  const regions: RegionalStacks[] = [];
  for (const [index, region] of config.regions.entries()) {
    const storage = storages[index];
    if (!storage) throw new Error(`no storage stack for ${region}`);
    // In a replica region the functions sign with the multi-Region keys' replicas there.
    const regionKeys =
      region === config.primaryRegion
        ? keys
        : new ReplicaKeysStack(app, `Signet-Keys-${region}`, {
            env: env(region),
            crossRegionReferences,
            description: `Signet signing keys in ${region}: replicas of the primary's multi-Region keys (KMS)`,
            config,
            primary: keys,
            ...stateful,
          });
    const api = new ApiStack(app, `Signet-Api-${region}`, {
      env: env(region),
      crossRegionReferences,
      description: `Signet HTTP API and functions in ${region}`,
      config,
      storage,
      onlineKeys: regionKeys.onlineKeys,
      cdnSigningKey: regionKeys.cdnSigningKey,
      isPrimaryRegion: region === config.primaryRegion,
    });
    const monitoring = new MonitoringStack(app, `Signet-Monitoring-${region}`, {
      env: env(region),
      crossRegionReferences,
      description: `Signet alarms, alarm topic and dashboard in ${region}`,
      config,
      api,
      storage,
    });
    regions.push({ region, keys: regionKeys, storage, api, monitoring });
  }

  const [primary] = regions;
  if (!primary) throw new Error('no regions configured');
  const global = new GlobalStack(app, `Signet-Global-${config.globalRegion}`, {
    env: env(config.globalRegion),
    description: 'Signet global entry: CloudFront, WAF, CDN key group',
    crossRegionReferences: true,
    config,
    primary: { region: primary.region, bucket: primary.storage.bucket, api: primary.api.api },
    // The first replica region listed: the operator orders replicaRegions (docs/cdk.md, "Origin failover").
    ...(regions[1] && { failoverBucket: { region: regions[1].region, bucket: regions[1].storage.bucket } }),
    cdnSigningKey: keys.cdnSigningKey,
  });

  // Not on dashboards: CloudFormation has since added Tags to AWS::CloudWatch::Dashboard,
  // but cfn-lint 1.51's schema (the version CI runs) refuses it (E3002), and a dashboard's tag buys nothing.
  Tags.of(app).add('project', 'signet', { excludeResourceTypes: ['AWS::CloudWatch::Dashboard'] });
  return { regions, keys, global };
}

export interface CreatedApp {
  readonly app: App;
  readonly config: SignetConfig;
  readonly stacks: SignetStacks;
}

export interface CreateAppOptions extends AppProps {
  /** Supplies CDK_DEFAULT_ACCOUNT. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

export function createSignetApp(options: CreateAppOptions = {}): CreatedApp {
  const { env, ...appProps } = options;
  const app = new App(appProps);
  const config = parseConfig(app.node.tryGetContext(CONTEXT_KEY), env);
  const stacks = buildSignet(app, config);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, config, stacks };
}
