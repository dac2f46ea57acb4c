/**
 * The service's online signers (snapshot, timestamp) in the cloud: KMS keys, so the
 * private keys never leave KMS (locally they are PEM files: local/tuf-keys.ts). Never a
 * key in an environment variable, only where to find it.
 */
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { createPublicKey } from 'node:crypto';
import { regionOfArn } from '#lib/aws/arn.ts';
import type { FunctionConfig } from '#lib/config.ts';
import type { Signer } from './signer.ts';
import { tufKey } from './signer.ts';

export type OnlineRole = 'snapshot' | 'timestamp';

const clients = new Map<string, KMSClient>();

/** A KMS ECC_NIST_P256 key: KMS returns DER ECDSA signatures, which is what TUF's ecdsa scheme wants. */
export async function kmsSigner(keyId: string): Promise<Signer> {
  // A key ARN names its region, and the client follows it. CDK gives each region's functions
  // their own region's key (a multi-Region replica outside the primary region), so signing
  // never crosses regions and survives another region's outage (docs/cdk.md, "Keys").
  const region = regionOfArn(keyId).region ?? '';
  const client = clients.get(region) ?? new KMSClient({ maxAttempts: 3, ...regionOfArn(keyId) });
  clients.set(region, client);
  const { PublicKey } = await client.send(new GetPublicKeyCommand({ KeyId: keyId }));
  if (!PublicKey) throw new Error(`KMS returned no public key for ${keyId}`);
  const key = tufKey(createPublicKey({ key: Buffer.from(PublicKey), format: 'der', type: 'spki' }));
  return {
    key,
    async sign(data) {
      const { Signature } = await client.send(new SignCommand({ KeyId: keyId, Message: data, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' }));
      if (!Signature) throw new Error(`KMS returned no signature for ${keyId}`);
      return Buffer.from(Signature);
    },
  };
}

/** The role's KMS key, named by the function's configuration (snapshotKmsKey, timestampKmsKey). */
export function kmsOnlineSigner(config: FunctionConfig): (role: OnlineRole) => Promise<Signer> {
  return (role) => kmsSigner(config.get(role === 'snapshot' ? 'snapshotKmsKey' : 'timestampKmsKey'));
}
