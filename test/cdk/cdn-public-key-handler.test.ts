import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Ports, PublicKeyRecord } from '../../cdk/custom-resources/cdn-public-key/handler.ts';
import { onEvent } from '../../cdk/custom-resources/cdn-public-key/handler.ts';
import type { CustomResourceEvent } from '../../cdk/custom-resources/cdn-public-key/public-key.ts';
import { isPublicKeyId, parseProperties, plan, publicKeyName, samePem, spkiDerToPem } from '../../cdk/custom-resources/cdn-public-key/public-key.ts';

const STACK_ID = 'arn:aws:cloudformation:us-east-1:123456789012:stack/Signet-Global-us-east-1/0f1e2d3c-aaaa-bbbb-cccc-000000000000';
const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab';
const OTHER_KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/mrk-ffffabcd12ab34cd56ef1234567890ab';

function p256(): { der: Buffer; pem: string } {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { der: publicKey.export({ format: 'der', type: 'spki' }), pem: publicKey.export({ format: 'pem', type: 'spki' }).toString() };
}

const create = (keyArn = KEY_ARN): CustomResourceEvent => ({
  RequestType: 'Create',
  StackId: STACK_ID,
  LogicalResourceId: 'CdnPublicKey99E44FF8',
  ResourceProperties: { ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:x', KeyArn: keyArn },
});
const update = (physicalId: string, keyArn: string, oldKeyArn: string): CustomResourceEvent => ({
  RequestType: 'Update',
  StackId: STACK_ID,
  LogicalResourceId: 'CdnPublicKey99E44FF8',
  PhysicalResourceId: physicalId,
  ResourceProperties: { KeyArn: keyArn },
  OldResourceProperties: { KeyArn: oldKeyArn },
});
const remove = (physicalId: string): CustomResourceEvent => ({
  RequestType: 'Delete',
  StackId: STACK_ID,
  LogicalResourceId: 'CdnPublicKey99E44FF8',
  PhysicalResourceId: physicalId,
  ResourceProperties: { KeyArn: KEY_ARN },
});

/** An in-memory CloudFront public-key store and KMS, recording every call. */
function fakeAws(der: Uint8Array) {
  const keys = new Map<string, PublicKeyRecord>();
  const calls: string[] = [];
  let next = 1;
  const ports: Ports = {
    async kmsPublicKeyDer(keyArn, region) {
      calls.push(`kms:GetPublicKey ${keyArn} @${region}`);
      return der;
    },
    async createPublicKey(name, encodedKey) {
      calls.push(`cloudfront:CreatePublicKey ${name}`);
      if ([...keys.values()].some((k) => k.name === name)) return undefined;
      const id = `KTESTKEY${next++}`;
      keys.set(id, { id, name, encodedKey });
      return id;
    },
    async findPublicKeyByName(name) {
      calls.push(`cloudfront:ListPublicKeys ${name}`);
      return [...keys.values()].find((k) => k.name === name);
    },
    async deletePublicKey(id) {
      calls.push(`cloudfront:DeletePublicKey ${id}`);
      keys.delete(id);
    },
  };
  return { ports, keys, calls };
}

describe('spkiDerToPem', () => {
  it('turns the DER SubjectPublicKeyInfo KMS returns into the PEM CloudFront takes', () => {
    const { der, pem } = p256();
    const converted = spkiDerToPem(der);
    expect(converted).toMatch(/^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n$/);
    expect(samePem(converted, pem)).toBe(true);
  });

  it('accepts RSA-2048, the other key type CloudFront verifies', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(spkiDerToPem(publicKey.export({ format: 'der', type: 'spki' }))).toContain('BEGIN PUBLIC KEY');
  });

  it('refuses keys CloudFront cannot verify with (P-384, RSA-3072)', () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ format: 'der', type: 'spki' });
    const rsa3072 = generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey.export({ format: 'der', type: 'spki' });
    expect(() => spkiDerToPem(p384)).toThrow(/ECDSA P-256 or RSA-2048/);
    expect(() => spkiDerToPem(rsa3072)).toThrow(/ECDSA P-256 or RSA-2048/);
  });

  it('refuses bytes that are no public key', () => {
    expect(() => spkiDerToPem(new Uint8Array([1, 2, 3]))).toThrow();
  });
});

describe('publicKeyName', () => {
  it('is the same for the same stack, resource and key, and differs when the key does', () => {
    const name = publicKeyName(STACK_ID, 'CdnPublicKey99E44FF8', KEY_ARN);
    expect(publicKeyName(STACK_ID, 'CdnPublicKey99E44FF8', KEY_ARN)).toBe(name);
    expect(publicKeyName(STACK_ID, 'CdnPublicKey99E44FF8', OTHER_KEY_ARN)).not.toBe(name);
    expect(name).toMatch(/^Signet-Global-us-east-1-CdnPublicKey99E44FF8-[0-9a-f]{16}$/);
  });

  it('stays within CloudFront\'s 128 characters of [A-Za-z0-9_-]', () => {
    const name = publicKeyName(STACK_ID.replace('Signet-Global-us-east-1', 'S'.repeat(120)), 'Logical.Id/with:odd chars', KEY_ARN);
    expect(name.length).toBeLessThanOrEqual(128);
    expect(name).toMatch(/^[A-Za-z0-9_-]+$/);
  });
});

describe('parseProperties and isPublicKeyId', () => {
  it('takes the KMS key region from its ARN', () => {
    expect(parseProperties({ KeyArn: KEY_ARN })).toEqual({ keyArn: KEY_ARN, region: 'eu-west-1' });
  });

  it('refuses a missing or malformed KeyArn', () => {
    expect(() => parseProperties({})).toThrow(/KeyArn is required/);
    expect(() => parseProperties({ KeyArn: 'alias/signet' })).toThrow(/not a KMS key ARN/);
  });

  it('recognises CloudFront public-key ids only', () => {
    expect(isPublicKeyId('K3D5EWEUDCCXON')).toBe(true);
    expect(isPublicKeyId('Signet-Global-us-east-1-CdnPublicKey-abc')).toBe(false);
    expect(isPublicKeyId(undefined)).toBe(false);
  });
});

describe('plan', () => {
  it('keeps the public key when an update leaves the KMS key unchanged', () => {
    expect(plan(update('K3D5EWEUDCCXON', KEY_ARN, KEY_ARN))).toEqual({ action: 'keep', publicKeyId: 'K3D5EWEUDCCXON' });
  });

  it('creates a new public key when the KMS key changes (CloudFormation deletes the old one afterwards)', () => {
    expect(plan(update('K3D5EWEUDCCXON', OTHER_KEY_ARN, KEY_ARN))).toMatchObject({ action: 'create', key: { keyArn: OTHER_KEY_ARN } });
  });

  it('deletes nothing when a failed create left no public-key id', () => {
    expect(plan(remove('2f6c1e0a-request-id'))).toEqual({ action: 'nothing', physicalResourceId: '2f6c1e0a-request-id' });
  });
});

describe('onEvent', () => {
  it('publishes the KMS public key as PEM and returns its id as the physical id', async () => {
    const { der, pem } = p256();
    const aws = fakeAws(der);

    const response = await onEvent(create(), aws.ports);

    expect(response.PhysicalResourceId).toBe('KTESTKEY1');
    expect(response.Data).toEqual({ PublicKeyId: 'KTESTKEY1' });
    expect(samePem(aws.keys.get('KTESTKEY1')?.encodedKey ?? '', pem)).toBe(true);
    expect(aws.calls[0]).toBe(`kms:GetPublicKey ${KEY_ARN} @eu-west-1`);
  });

  it('adopts the key a previous attempt of the same create made, instead of failing or duplicating it', async () => {
    const { der } = p256();
    const aws = fakeAws(der);
    const first = await onEvent(create(), aws.ports);

    const retried = await onEvent(create(), aws.ports);

    expect(retried.PhysicalResourceId).toBe(first.PhysicalResourceId);
    expect(aws.keys.size).toBe(1);
  });

  it('refuses to adopt a same-named key with other content', async () => {
    const aws = fakeAws(p256().der);
    await onEvent(create(), aws.ports);
    const other = fakeAws(p256().der);
    other.keys.set('KTESTKEY1', [...aws.keys.values()][0] as PublicKeyRecord);

    await expect(onEvent(create(), other.ports)).rejects.toThrow(/exists with a different key/);
  });

  it('makes no CloudFront call on an update that keeps the key', async () => {
    const aws = fakeAws(p256().der);

    const response = await onEvent(update('K3D5EWEUDCCXON', KEY_ARN, KEY_ARN), aws.ports);

    expect(response.PhysicalResourceId).toBe('K3D5EWEUDCCXON');
    expect(aws.calls).toEqual([]);
  });

  it('deletes the public key on delete, and only a public key', async () => {
    const aws = fakeAws(p256().der);
    const { PhysicalResourceId } = await onEvent(create(), aws.ports);

    await onEvent(remove(PhysicalResourceId), aws.ports);
    await onEvent(remove('not-a-key-id'), aws.ports);

    expect(aws.keys.size).toBe(0);
    expect(aws.calls.filter((c) => c.startsWith('cloudfront:DeletePublicKey'))).toEqual([`cloudfront:DeletePublicKey ${PhysicalResourceId}`]);
  });
});
