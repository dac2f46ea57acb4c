/**
 * Signing keys, in the primary region. Keys outlive everything that uses them (a key
 * that is deleted takes every signature made with it along), so they have their own
 * stack with its own, rarer, deployment cadence: the CDN URL-signing key and the TUF
 * online keys (snapshot, timestamp). Key rotation is a later issue's.
 */
import { CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { OnlineRole } from '#lib/tuf/online-signers.ts';
import type { SignetConfig } from '../config.ts';
import { accountKeyPolicy } from '../constructs/key-policy.ts';

/** What each key signs: its KMS description, in the primary region and on its replicas. */
const CDN_KEY_DESCRIPTION = 'Signet: signs CloudFront signed URLs for /targets/* (ECDSA P-256)';
const onlineKeyDescription = (role: OnlineRole) => `Signet: signs TUF ${role} metadata (ECDSA P-256), the service's online ${role} key`;
const onlineKeyAlias = (role: OnlineRole) => `alias/signet/tuf-${role}`;

export interface KeysStackProps extends StackProps {
  readonly config: SignetConfig;
}

export class KeysStack extends Stack {
  /** Signs CloudFront URLs for `/targets/*`; its public key is the CDN key group's only key. */
  readonly cdnSigningKey: kms.Key;
  /** Sign TUF snapshot and timestamp metadata; their public keys are listed in root.json. */
  readonly onlineKeys: Readonly<Record<OnlineRole, kms.Key>>;

  constructor(scope: Construct, id: string, props: KeysStackProps) {
    super(scope, id, props);
    const removalPolicy = props.config.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    this.cdnSigningKey = new kms.Key(this, 'CdnSigningKey', {
      description: CDN_KEY_DESCRIPTION,
      keySpec: kms.KeySpec.ECC_NIST_P256,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      // Multi-Region is fixed at creation: a replica region can later sign with a replica of
      // this very key (same key material, same CloudFront public key) instead of calling
      // across regions or publishing a second key.
      multiRegion: true,
      pendingWindow: Duration.days(30),
      removalPolicy,
      policy: accountKeyPolicy(),
    });
    new CfnOutput(this, 'CdnSigningKeyArn', { value: this.cdnSigningKey.keyArn });

    const onlineKey = (role: OnlineRole, id: string): kms.Key => {
      const key = new kms.Key(this, id, {
        description: onlineKeyDescription(role),
        // TUF's ecdsa-sha2-nistp256 scheme; KMS returns the DER signature TUF expects.
        keySpec: kms.KeySpec.ECC_NIST_P256,
        keyUsage: kms.KeyUsage.SIGN_VERIFY,
        // As the CDN key: a replica region can sign with a replica of the same key, which
        // root.json already lists, instead of a second key that would need a new root.
        multiRegion: true,
        // Asymmetric KMS keys cannot rotate automatically (enableKeyRotation is refused):
        // rotating an online key means a new key and a new root.json that lists it.
        pendingWindow: Duration.days(30),
        removalPolicy,
        policy: accountKeyPolicy(),
        alias: onlineKeyAlias(role),
      });
      new CfnOutput(this, `${id}Arn`, { value: key.keyArn, description: `The ${role} key root.json must list (GET /v1/admin/repository shows its public key)` });
      return key;
    };
    this.onlineKeys = { snapshot: onlineKey('snapshot', 'TufSnapshotKey'), timestamp: onlineKey('timestamp', 'TufTimestampKey') };
  }
}

export interface ReplicaKeysStackProps extends StackProps {
  readonly config: SignetConfig;
  /** The primary region's keys, whose multi-Region replicas this stack holds. */
  readonly primary: KeysStack;
}

/**
 * A replica region's copies of the multi-Region keys (AWS::KMS::ReplicaKey): the same key
 * material and key id, so the same CloudFront public key and the same keys in root.json,
 * used in-region. A replica region's functions sign with these, never across regions, so a
 * primary-region outage leaves them signing (the manifest's grants; the timestamp on
 * failover, docs/cdk.md). Each carries the key policy every Signet key has (kms:CreateGrant
 * for AWS resources only): a replica key's policy is its own, not copied from the primary.
 */
export class ReplicaKeysStack extends Stack {
  readonly cdnSigningKey: kms.IKey;
  readonly onlineKeys: Readonly<Record<OnlineRole, kms.IKey>>;

  constructor(scope: Construct, id: string, props: ReplicaKeysStackProps) {
    super(scope, id, props);
    const retain = props.config.removalPolicy === 'retain';
    const replica = (id: string, primary: kms.Key, description: string, alias?: string): kms.IKey => {
      const key = new kms.CfnReplicaKey(this, id, {
        primaryKeyArn: primary.keyArn,
        description: `${description} (replica in ${this.region})`,
        keyPolicy: accountKeyPolicy(),
        enabled: true,
        pendingWindowInDays: 30,
      });
      key.applyRemovalPolicy(retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY);
      // Aliases are per region and not replicated with the key: name it here as in the primary region.
      if (alias) new kms.CfnAlias(this, `${id}Alias`, { aliasName: alias, targetKeyId: key.ref });
      new CfnOutput(this, `${id}Arn`, { value: key.attrArn });
      return kms.Key.fromKeyArn(this, `${id}Ref`, key.attrArn);
    };
    this.cdnSigningKey = replica('CdnSigningKey', props.primary.cdnSigningKey, CDN_KEY_DESCRIPTION);
    this.onlineKeys = {
      snapshot: replica('TufSnapshotKey', props.primary.onlineKeys.snapshot, onlineKeyDescription('snapshot'), onlineKeyAlias('snapshot')),
      timestamp: replica('TufTimestampKey', props.primary.onlineKeys.timestamp, onlineKeyDescription('timestamp'), onlineKeyAlias('timestamp')),
    };
  }
}
