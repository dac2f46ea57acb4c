/**
 * The service's online signers (snapshot, timestamp), from the environment: KMS key ids
 * in the cloud (the private keys never leave KMS), PEM files under a directory locally.
 * Never a key in an environment variable, only where to find it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { createPublicKey } from 'node:crypto';
import { regionOfArn } from '#lib/aws/arn.ts';
import type { Signer } from './signer.ts';
import { pemSigner, tufKey } from './signer.ts';

export type OnlineRole = 'snapshot' | 'timestamp';

const clients = new Map<string, KMSClient>();

/** A KMS ECC_NIST_P256 key: KMS returns DER ECDSA signatures, which is what TUF's ecdsa scheme wants. */
export async function kmsSigner(keyId: string): Promise<Signer> {
  // A key ARN names its region: a replica region's function may sign with the primary's key.
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

export const onlineKeyEnv: Record<OnlineRole, string> = { snapshot: 'SIGNET_SNAPSHOT_KMS_KEY', timestamp: 'SIGNET_TIMESTAMP_KMS_KEY' };
export const localKeyDirEnv = 'SIGNET_TUF_KEY_DIR';

export async function onlineSigners(env: NodeJS.ProcessEnv = process.env): Promise<Record<OnlineRole, Signer>> {
  const dir = env[localKeyDirEnv];
  const signerFor = async (role: OnlineRole): Promise<Signer> => {
    const kmsKey = env[onlineKeyEnv[role]];
    if (kmsKey) return kmsSigner(kmsKey);
    if (dir) return pemSigner(readFileSync(join(dir, `${role}.key.pem`), 'utf8'));
    throw new Error(`missing environment variable ${onlineKeyEnv[role]} (or ${localKeyDirEnv} locally)`);
  };
  return { snapshot: await signerFor('snapshot'), timestamp: await signerFor('timestamp') };
}
