/**
 * The two public key types CloudFront accepts in a key group for signed URLs: RSA 2048
 * and ECDSA P-256 ("CloudFront supports signed URLs and signed cookies with RSA 2048 or
 * ECDSA 256 key signatures", CloudFront API reference, PublicKey). Anything else is
 * refused both when a key group is loaded and when a URL is verified, so the local
 * stack cannot drift into accepting keys the cloud would not.
 */
import type { KeyObject } from 'node:crypto';

export type CdnKeyType = 'ecdsa-p256' | 'rsa-2048';

export function cdnKeyType(key: KeyObject): CdnKeyType | undefined {
  if (key.type !== 'public') return undefined;
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa' && details?.modulusLength === 2048) return 'rsa-2048';
  if (key.asymmetricKeyType === 'ec' && details?.namedCurve === 'prime256v1') return 'ecdsa-p256';
  return undefined;
}
