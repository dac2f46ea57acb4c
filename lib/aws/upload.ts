/**
 * Uploading a target: S3 checks each upload's SHA-256 (x-amz-checksum-sha256), so a
 * file damaged on the way is refused by S3 itself, not discovered by an agent later.
 * Large files go in parts (lib-storage), each part with its own checksum.
 */
import { createReadStream } from 'node:fs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { cacheControlFor } from '#lib/definitions/bucket.ts';

const MULTIPART_FROM_BYTES = 64 * 1024 * 1024;

export function s3Uploader(s3: S3Client, bucket: string) {
  return async function upload(key: string, file: string, sha256: string, length: number): Promise<void> {
    const common = { Bucket: bucket, Key: key, ContentType: 'application/octet-stream', CacheControl: cacheControlFor(key) };
    if (length < MULTIPART_FROM_BYTES) {
      await s3.send(
        new PutObjectCommand({ ...common, Body: createReadStream(file), ContentLength: length, ChecksumSHA256: Buffer.from(sha256, 'hex').toString('base64') }),
      );
      return;
    }
    await new Upload({ client: s3, params: { ...common, Body: createReadStream(file), ChecksumAlgorithm: 'SHA256' }, queueSize: 4, partSize: 16 * 1024 * 1024 }).done();
  };
}
