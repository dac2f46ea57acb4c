/**
 * Signing keys, in the primary region. Keys outlive everything that uses them (a key
 * that is deleted takes every signature made with it along), so they have their own
 * stack with its own, rarer, deployment cadence. A later issue adds the TUF online keys
 * (snapshot, timestamp) and key rotation here.
 */
import { CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { SignetConfig } from '../config.ts';

export interface KeysStackProps extends StackProps {
  readonly config: SignetConfig;
}

export class KeysStack extends Stack {
  /** Signs CloudFront URLs for `/targets/*`; its public key is the CDN key group's only key. */
  readonly cdnSigningKey: kms.Key;

  constructor(scope: Construct, id: string, props: KeysStackProps) {
    super(scope, id, props);
    this.cdnSigningKey = new kms.Key(this, 'CdnSigningKey', {
      description: 'Signet: signs CloudFront signed URLs for /targets/* (ECDSA P-256)',
      keySpec: kms.KeySpec.ECC_NIST_P256,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      // Multi-Region is fixed at creation: a replica region can later sign with a replica of
      // this very key (same key material, same CloudFront public key) instead of calling
      // across regions or publishing a second key.
      multiRegion: true,
      pendingWindow: Duration.days(30),
      removalPolicy: props.config.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    new CfnOutput(this, 'CdnSigningKeyArn', { value: this.cdnSigningKey.keyArn });
  }
}
