import { createHash } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/cloudfront-signer';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cacheControlFor } from '#lib/definitions/bucket.ts';
import { readLocalCdnKey } from '#lib/cdn/key-files.ts';
import { localS3Client } from '#local/s3-local.ts';

const { baseUrl, dataDir, s3Endpoint, bucket } = inject('stack');
const s3 = localS3Client(s3Endpoint);
const content = Buffer.from('signature set body '.repeat(500));
const sha256 = createHash('sha256').update(content).digest('hex');
const targetPath = `/targets/demo-av/${sha256}.main.sig`;
let signer: { keyPairId: string; privateKey: string };

async function put(key: string, body: Buffer) {
  await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, CacheControl: cacheControlFor(key), ContentType: 'application/octet-stream' }),
  );
}

function signed(path: string, options: { expiresInSeconds?: number } = {}): string {
  const { keyPairId, privateKey } = signer;
  return getSignedUrl({
    url: `${baseUrl}${path}`,
    keyPairId,
    privateKey,
    algorithm: 'SHA256',
    dateLessThan: new Date(Date.now() + (options.expiresInSeconds ?? 300) * 1000),
  });
}

/** Changes one character of the Signature parameter, keeping it valid URL-safe base64. */
function tamperSignature(url: string): string {
  const parsed = new URL(url);
  const signature = parsed.searchParams.get('Signature') ?? '';
  const i = Math.floor(signature.length / 2);
  parsed.searchParams.set('Signature', signature.slice(0, i) + (signature[i] === 'A' ? 'B' : 'A') + signature.slice(i + 1));
  return parsed.toString();
}

beforeAll(async () => {
  const key = await readLocalCdnKey(dataDir);
  signer = { keyPairId: key.keyPairId, privateKey: key.privateKeyPem };
  await put(targetPath.slice(1), content);
  await put('metadata/1.root.json', Buffer.from('{"signed":{}}'));
});

afterAll(() => s3.destroy());

describe('the local origin serving /targets/* like CloudFront', () => {
  it('serves a target with a valid signed URL, byte for byte, with ETag and immutable caching', async () => {
    const response = await fetch(signed(targetPath));
    expect(response.status).toBe(200);
    const body = Buffer.from(await response.arrayBuffer());
    expect(createHash('sha256').update(body).digest('hex')).toBe(sha256);
    expect(response.headers.get('etag')).toMatch(/^"[0-9a-f]{32}"$/);
    expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(response.headers.get('accept-ranges')).toBe('bytes');
  });

  it('refuses the same URL with one character of the signature changed (403)', async () => {
    const response = await fetch(tamperSignature(signed(targetPath)));
    expect(response.status).toBe(403);
  });

  it('refuses a target without any signature (403)', async () => {
    expect((await fetch(`${baseUrl}${targetPath}`)).status).toBe(403);
  });

  it('refuses a URL signed for another file (403)', async () => {
    const other = new URL(signed(`/targets/demo-av/${'0'.repeat(64)}.other.sig`));
    const swapped = `${baseUrl}${targetPath}${other.search}`;
    expect((await fetch(swapped)).status).toBe(403);
  });

  it('refuses an expired signed URL (403)', async () => {
    expect((await fetch(signed(targetPath, { expiresInSeconds: -10 }))).status).toBe(403);
  });

  it('answers 404 for a missing file behind a valid signature', async () => {
    const response = await fetch(signed(`/targets/demo-av/${'f'.repeat(64)}.missing.sig`));
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('serves a byte range with 206 and Content-Range', async () => {
    const response = await fetch(signed(targetPath), { headers: { range: 'bytes=100-199' } });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe(`bytes 100-199/${content.length}`);
    expect(Buffer.from(await response.arrayBuffer())).toEqual(content.subarray(100, 200));
  });

  it('answers a conditional GET with a matching ETag with 304', async () => {
    const first = await fetch(signed(targetPath));
    await first.arrayBuffer();
    const etag = first.headers.get('etag') ?? '';
    const second = await fetch(signed(targetPath), { headers: { 'if-none-match': etag } });
    expect(second.status).toBe(304);
  });

  it('answers HEAD with the length and no body', async () => {
    const response = await fetch(signed(targetPath), { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(content.length));
  });
});

describe('the local origin serving /metadata/* publicly', () => {
  it('serves metadata without a signature', async () => {
    const response = await fetch(`${baseUrl}/metadata/1.root.json`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('{"signed":{}}');
  });

  it('answers 404 for missing metadata', async () => {
    expect((await fetch(`${baseUrl}/metadata/99.root.json`)).status).toBe(404);
  });

  it('refuses writes (405)', async () => {
    expect((await fetch(`${baseUrl}/metadata/1.root.json`, { method: 'PUT', body: 'x' })).status).toBe(405);
  });
});
