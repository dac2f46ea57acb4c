/**
 * The local stack's stand-in for a CloudFront key group: a directory of public keys,
 * one `<key-pair-id>.pub.pem` per key, parsed once into KeyObjects so verifying a URL
 * never re-reads or re-parses PEM.
 */
import type { KeyObject } from 'node:crypto';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CdnKeyType } from './cdn-key.ts';
import { cdnKeyType } from './cdn-key.ts';

export type { CdnKeyType } from './cdn-key.ts';

const publicKeySuffix = '.pub.pem';

/**
 * Fails on a key CloudFront would not take (anything but RSA 2048 or ECDSA P-256) or an
 * unreadable PEM, naming the file: a key group that silently lost a key would turn into
 * 403s for every URL signed with it, far from the cause.
 */
export async function loadKeyGroup(dir: string): Promise<Map<string, KeyObject>> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && e.name.endsWith(publicKeySuffix))
    .map((e) => e.name)
    .sort();
  const group = new Map<string, KeyObject>();
  for (const name of names) {
    const id = name.slice(0, -publicKeySuffix.length);
    if (id === '') continue;
    const file = join(dir, name);
    let key: KeyObject;
    try {
      key = createPublicKey(await readFile(file, 'utf8'));
    } catch (error) {
      throw new Error(`CDN public key ${file} is not a readable PEM public key`, { cause: error });
    }
    if (cdnKeyType(key) === undefined) {
      throw new Error(`CDN public key ${file} is neither RSA 2048 nor ECDSA P-256, the key types CloudFront accepts`);
    }
    group.set(id, key);
  }
  return group;
}

export interface CdnKeyPairPem {
  /** SPKI PEM (`BEGIN PUBLIC KEY`), the form CloudFront's CreatePublicKey takes. */
  readonly publicKeyPem: string;
  /**
   * RSA: PKCS #1 (`BEGIN RSA PRIVATE KEY`), because the AWS CLI v1's `cloudfront sign`
   * reads only that form. ECDSA: PKCS #8 (`BEGIN PRIVATE KEY`). Node, the AWS SDK
   * signer and OpenSSL read both.
   */
  readonly privateKeyPem: string;
}

export function generateCdnKeyPair(type: CdnKeyType): CdnKeyPairPem {
  if (type === 'rsa-2048') {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    });
    return { publicKeyPem: publicKey, privateKeyPem: privateKey };
  }
  const { publicKey, privateKey } = generateKeyPairSync('ec', {
    namedCurve: 'prime256v1',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicKeyPem: publicKey, privateKeyPem: privateKey };
}
