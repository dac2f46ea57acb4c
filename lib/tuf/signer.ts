/**
 * One signer interface for every TUF role, whatever holds the private key: a PEM file
 * (the local stack, a CI secret, an offline root key) or KMS (the cloud's online keys).
 * All roles use ECDSA P-256 (`ecdsa-sha2-nistp256`), the TUF key type KMS can hold.
 */
import { createPrivateKey, createPublicKey, sign as cryptoSign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { canonicalize } from '@tufjs/canonical-json';
import { Key } from '@tufjs/models';
import { sha256Hex } from '#lib/hash.ts';

export interface Signer {
  /** The public key as it appears in root.json, with its TUF key id. */
  readonly key: Key;
  /** A DER ECDSA signature over SHA-256 of `data`. */
  sign(data: Buffer): Promise<Buffer>;
}

const KEY_TYPE = 'ecdsa';
const SCHEME = 'ecdsa-sha2-nistp256';

/** The TUF key for a P-256 public key; its id is SHA-256 of the key's canonical JSON (TUF 1.0 §4.2). */
export function tufKey(publicKey: KeyObject | string): Key {
  const keyObject = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  if (keyObject.asymmetricKeyType !== 'ec' || keyObject.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('TUF keys here are ECDSA P-256');
  }
  const pem = keyObject.export({ type: 'spki', format: 'pem' }).toString();
  const body = { keytype: KEY_TYPE, scheme: SCHEME, keyval: { public: pem } };
  return new Key({ keyID: sha256Hex(canonicalize(body)), keyType: KEY_TYPE, scheme: SCHEME, keyVal: { public: pem } });
}

/** A signer over a PEM private key, parsed once. */
export function pemSigner(privateKeyPem: string): Signer {
  const privateKey = createPrivateKey(privateKeyPem);
  const key = tufKey(createPublicKey(privateKey));
  return {
    key,
    async sign(data) {
      return cryptoSign('sha256', data, privateKey);
    },
  };
}
