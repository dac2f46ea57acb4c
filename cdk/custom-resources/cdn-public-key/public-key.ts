/**
 * The pure parts of the CDN public-key custom resource: turning KMS's public key into
 * the PEM CloudFront wants, the deterministic name that makes creation idempotent, and
 * the decision what each CloudFormation event means. No AWS calls here.
 */
import { createHash, createPublicKey } from 'node:crypto';

/** CloudFront verifies signed URLs with RSA-2048 or ECDSA P-256 public keys only. */
export function spkiDerToPem(der: Uint8Array): string {
  const key = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
  const details = key.asymmetricKeyDetails;
  const ecP256 = key.asymmetricKeyType === 'ec' && details?.namedCurve === 'prime256v1';
  const rsa2048 = key.asymmetricKeyType === 'rsa' && details?.modulusLength === 2048;
  if (!ecP256 && !rsa2048) {
    const size = details?.namedCurve ?? (details?.modulusLength === undefined ? 'unknown size' : `${details.modulusLength} bits`);
    throw new Error(`CloudFront accepts ECDSA P-256 or RSA-2048 public keys, not ${key.asymmetricKeyType ?? 'unknown'} (${size})`);
  }
  return key.export({ format: 'pem', type: 'spki' }).toString();
}

/** PEM text compared without line-ending or trailing-whitespace differences. */
export function samePem(a: string, b: string): boolean {
  const normalize = (pem: string) => pem.replace(/\r\n/g, '\n').trim();
  return normalize(a) === normalize(b);
}

export interface KeyReference {
  readonly keyArn: string;
  readonly region: string;
}

const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:([a-z]{2}(?:-gov)?-[a-z]+-\d):\d{12}:key\/(?:mrk-)?[0-9a-f-]+$/;

/** The resource's one property, `KeyArn`: an asymmetric KMS key, in whichever region. */
export function parseProperties(properties: Readonly<Record<string, unknown>> | undefined): KeyReference {
  const keyArn = properties?.KeyArn;
  if (typeof keyArn !== 'string') throw new Error('property KeyArn is required');
  const match = KMS_KEY_ARN.exec(keyArn);
  if (!match?.[1]) throw new Error(`property KeyArn is not a KMS key ARN: "${keyArn}"`);
  return { keyArn, region: match[1] };
}

/**
 * CloudFront public-key ids look like `K3D5EWEUDCCXON`. A Delete can carry another
 * physical id when its Create failed before returning one: nothing to delete then.
 */
export function isPublicKeyId(id: string | undefined): id is string {
  return id !== undefined && /^K[A-Z0-9]{6,}$/.test(id);
}

/**
 * A name unique per stack, resource and key, and the same on every retry of one Create:
 * CloudFront then refuses a duplicate (PublicKeyAlreadyExists) and the handler adopts the
 * key it made before. At most 128 characters of `[A-Za-z0-9_-]`.
 */
export function publicKeyName(stackId: string, logicalResourceId: string, keyArn: string): string {
  const stackName = /:stack\/([^/]+)\//.exec(stackId)?.[1] ?? 'stack';
  const hash = createHash('sha256').update(`${stackId}\n${logicalResourceId}\n${keyArn}`).digest('hex').slice(0, 16);
  const readable = `${stackName}-${logicalResourceId}`.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 128 - hash.length - 1);
  return `${readable}-${hash}`;
}

export type CustomResourceEvent =
  | { readonly RequestType: 'Create'; readonly StackId: string; readonly LogicalResourceId: string; readonly ResourceProperties: Record<string, unknown> }
  | {
      readonly RequestType: 'Update';
      readonly StackId: string;
      readonly LogicalResourceId: string;
      readonly PhysicalResourceId: string;
      readonly ResourceProperties: Record<string, unknown>;
      readonly OldResourceProperties: Record<string, unknown>;
    }
  | {
      readonly RequestType: 'Delete';
      readonly StackId: string;
      readonly LogicalResourceId: string;
      readonly PhysicalResourceId: string;
      readonly ResourceProperties: Record<string, unknown>;
    };

export type Plan =
  | { readonly action: 'create'; readonly key: KeyReference; readonly name: string }
  | { readonly action: 'keep'; readonly publicKeyId: string }
  | { readonly action: 'delete'; readonly publicKeyId: string }
  | { readonly action: 'nothing'; readonly physicalResourceId: string };

/**
 * Create makes a public key. Update keeps the existing one when the KMS key is the same
 * (an unrelated property change must not churn the key group), and otherwise makes a new
 * one under a new physical id: CloudFormation then deletes the old key itself, after the
 * key group has moved to the new one. Delete removes the key it is given, if it is one.
 */
export function plan(event: CustomResourceEvent): Plan {
  switch (event.RequestType) {
    case 'Create': {
      const key = parseProperties(event.ResourceProperties);
      return { action: 'create', key, name: publicKeyName(event.StackId, event.LogicalResourceId, key.keyArn) };
    }
    case 'Update': {
      const key = parseProperties(event.ResourceProperties);
      if (event.OldResourceProperties.KeyArn === key.keyArn && isPublicKeyId(event.PhysicalResourceId)) {
        return { action: 'keep', publicKeyId: event.PhysicalResourceId };
      }
      return { action: 'create', key, name: publicKeyName(event.StackId, event.LogicalResourceId, key.keyArn) };
    }
    case 'Delete':
      return isPublicKeyId(event.PhysicalResourceId)
        ? { action: 'delete', publicKeyId: event.PhysicalResourceId }
        : { action: 'nothing', physicalResourceId: event.PhysicalResourceId };
  }
}
