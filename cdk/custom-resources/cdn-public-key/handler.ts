/**
 * Custom resource (custom-resources Provider, onEvent): publishes the public half of the
 * KMS CDN signing key to CloudFront as a CloudFront public key, whose id is the physical
 * id, for the key group to reference. The private half never leaves KMS.
 */
import { GetPublicKeyCommand as KmsGetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CloudFrontClient,
  CreatePublicKeyCommand,
  DeletePublicKeyCommand,
  GetPublicKeyCommand as CloudFrontGetPublicKeyCommand,
  ListPublicKeysCommand,
} from '@aws-sdk/client-cloudfront';
import type { CustomResourceEvent } from './public-key.ts';
import { plan, samePem, spkiDerToPem } from './public-key.ts';

export interface PublicKeyRecord {
  readonly id: string;
  readonly name: string;
  readonly encodedKey: string;
}

/** The AWS calls the handler makes, as an interface so its decisions are tested without AWS. */
export interface Ports {
  kmsPublicKeyDer(keyArn: string, region: string): Promise<Uint8Array>;
  /** Returns the new key's id, or `undefined` when a key of that name exists already. */
  createPublicKey(name: string, encodedKey: string, comment: string): Promise<string | undefined>;
  findPublicKeyByName(name: string): Promise<PublicKeyRecord | undefined>;
  /** Resolves when the key is gone, whether it was there or not. */
  deletePublicKey(id: string): Promise<void>;
}

export interface ProviderResponse {
  readonly PhysicalResourceId: string;
  readonly Data?: Readonly<Record<string, string>>;
}

export async function onEvent(event: CustomResourceEvent, ports: Ports): Promise<ProviderResponse> {
  const decision = plan(event);
  switch (decision.action) {
    case 'keep':
      return { PhysicalResourceId: decision.publicKeyId, Data: { PublicKeyId: decision.publicKeyId } };
    case 'nothing':
      return { PhysicalResourceId: decision.physicalResourceId };
    case 'delete':
      await ports.deletePublicKey(decision.publicKeyId);
      return { PhysicalResourceId: decision.publicKeyId };
    case 'create': {
      const pem = spkiDerToPem(await ports.kmsPublicKeyDer(decision.key.keyArn, decision.key.region));
      const comment = `Signet CDN signing key ${decision.key.keyArn}`.slice(0, 128);
      const id = (await ports.createPublicKey(decision.name, pem, comment)) ?? (await adopt(ports, decision.name, pem));
      return { PhysicalResourceId: id, Data: { PublicKeyId: id } };
    }
  }
}

/** A retried Create finds the key its first attempt made; a same-named key with other content is a conflict. */
async function adopt(ports: Ports, name: string, pem: string): Promise<string> {
  const existing = await ports.findPublicKeyByName(name);
  if (!existing) throw new Error(`CloudFront reported public key "${name}" as existing but does not list it`);
  if (!samePem(existing.encodedKey, pem)) {
    throw new Error(`CloudFront public key "${name}" (${existing.id}) exists with a different key: refusing to adopt it`);
  }
  return existing.id;
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

export function awsPorts(cloudFront = new CloudFrontClient({})): Ports {
  const kmsClients = new Map<string, KMSClient>();
  return {
    async kmsPublicKeyDer(keyArn, region) {
      let kms = kmsClients.get(region);
      if (!kms) kmsClients.set(region, (kms = new KMSClient({ region })));
      const out = await kms.send(new KmsGetPublicKeyCommand({ KeyId: keyArn }));
      if (out.KeyUsage !== 'SIGN_VERIFY' || !out.PublicKey) {
        throw new Error(`KMS key ${keyArn} is not an asymmetric signing key (KeyUsage ${out.KeyUsage ?? 'unknown'})`);
      }
      return out.PublicKey;
    },
    async createPublicKey(name, encodedKey, comment) {
      try {
        const out = await cloudFront.send(
          new CreatePublicKeyCommand({ PublicKeyConfig: { Name: name, CallerReference: name, EncodedKey: encodedKey, Comment: comment } }),
        );
        if (!out.PublicKey?.Id) throw new Error(`CreatePublicKey returned no id for "${name}"`);
        return out.PublicKey.Id;
      } catch (error) {
        if (errorName(error) === 'PublicKeyAlreadyExists') return undefined;
        throw error;
      }
    },
    async findPublicKeyByName(name) {
      let marker: string | undefined;
      do {
        const out = await cloudFront.send(new ListPublicKeysCommand({ Marker: marker, MaxItems: 100 }));
        const found = out.PublicKeyList?.Items?.find((item) => item.Name === name);
        if (found?.Id && found.EncodedKey) return { id: found.Id, name, encodedKey: found.EncodedKey };
        marker = out.PublicKeyList?.NextMarker;
      } while (marker);
      return undefined;
    },
    async deletePublicKey(id) {
      try {
        const current = await cloudFront.send(new CloudFrontGetPublicKeyCommand({ Id: id }));
        await cloudFront.send(new DeletePublicKeyCommand({ Id: id, IfMatch: current.ETag }));
      } catch (error) {
        if (errorName(error) === 'NoSuchPublicKey') return;
        throw error;
      }
    },
  };
}

let ports: Ports | undefined;

export const handler = (event: CustomResourceEvent): Promise<ProviderResponse> => {
  console.log(JSON.stringify({ level: 'info', message: 'custom resource event', requestType: event.RequestType, logicalResourceId: event.LogicalResourceId }));
  return onEvent(event, (ports ??= awsPorts()));
};
