/** The signature bucket through the S3 API: what the release code and the local origin need, nothing more. */
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { GetObjectCommandOutput, HeadObjectCommandOutput, S3Client } from '@aws-sdk/client-s3';
import { cacheControlFor } from '#lib/definitions/bucket.ts';
import type { ObjectSource, StoredObject } from '#lib/http/serve-object.ts';
import type { ReplicaBucket } from '#lib/releases/replication.ts';

export interface ObjectStore {
  get(key: string): Promise<Buffer | undefined>;
  /** Streams an object into `file`, never whole in memory; false when there is no such object. */
  download(key: string, file: string): Promise<boolean>;
  exists(key: string): Promise<boolean>;
  put(key: string, body: Buffer, contentType?: string): Promise<void>;
  /** Every key under a prefix (paginated). */
  list(prefix: string): Promise<Set<string>>;
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

export function s3ObjectStore(s3: S3Client, bucket: string): ObjectStore {
  return {
    async get(key) {
      try {
        const result = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return Buffer.from((await result.Body?.transformToByteArray()) ?? []);
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },
    async download(key, file) {
      let body: unknown;
      try {
        body = (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body;
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error;
      }
      await pipeline(body instanceof Readable ? body : Readable.from([]), createWriteStream(file, { mode: 0o600 }));
      return true;
    },
    async exists(key) {
      try {
        await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return true;
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error;
      }
    },
    async put(key, body, contentType = 'application/json') {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType, CacheControl: cacheControlFor(key) }));
    },
    async list(prefix) {
      const keys = new Set<string>();
      let token: string | undefined;
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token && { ContinuationToken: token }) }));
        for (const object of page.Contents ?? []) if (object.Key) keys.add(object.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return keys;
    },
  };
}

/**
 * A replica region's bucket as its promoter uses it (lib/releases/replication.ts). The
 * served timestamp is written with S3's conditional writes (If-Match on the ETag read,
 * If-None-Match when there was none), so two runs can never put an older view over a newer one.
 */
export function s3ReplicaBucket(s3: S3Client, bucket: string): ReplicaBucket {
  const objects = s3ObjectStore(s3, bucket);
  return {
    async read(key) {
      try {
        const result = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return { body: Buffer.from((await result.Body?.transformToByteArray()) ?? []), ...(result.ETag !== undefined && { etag: result.ETag }) };
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },
    list: (prefix) => objects.list(prefix),
    async putIfUnchanged(key, body, etag) {
      try {
        await s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: body,
            ContentType: 'application/json',
            CacheControl: cacheControlFor(key),
            ...(etag === undefined ? { IfNoneMatch: '*' } : { IfMatch: etag }),
          }),
        );
        return true;
      } catch (error) {
        // 412: it changed since it was read; 409: a write to it raced this one.
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (status === 412 || status === 409) return false;
        throw error;
      }
    },
  };
}

function storedObject(object: HeadObjectCommandOutput | GetObjectCommandOutput, size: number): StoredObject {
  return {
    size,
    ...(object.ETag !== undefined && { etag: object.ETag }),
    ...(object.LastModified !== undefined && { lastModified: object.LastModified }),
    ...(object.ContentType !== undefined && { contentType: object.ContentType }),
    ...(object.CacheControl !== undefined && { cacheControl: object.CacheControl }),
  };
}

/** The whole object's size from a ranged answer's `Content-Range: bytes a-b/size`. */
function totalSize(object: GetObjectCommandOutput): number {
  const total = object.ContentRange ? Number(object.ContentRange.split('/')[1]) : Number.NaN;
  return Number.isFinite(total) ? total : (object.ContentLength ?? 0);
}

/** Objects as the local origin streams them (lib/http/serve-object.ts). */
export function s3ObjectSource(s3: S3Client, bucket: string): ObjectSource {
  return {
    async stat(key) {
      try {
        const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return storedObject(head, head.ContentLength ?? 0);
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },
    async read(key, options = {}) {
      const { range, ifMatch } = options;
      let object: GetObjectCommandOutput;
      try {
        object = await s3.send(
          new GetObjectCommand({ Bucket: bucket, Key: key, ...(range && { Range: `bytes=${range.start}-${range.end}` }), ...(ifMatch !== undefined && { IfMatch: ifMatch }) }),
        );
      } catch (error) {
        if (isNotFound(error)) return undefined;
        if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 412) return 'changed';
        throw error;
      }
      const body = object.Body instanceof Readable ? object.Body : Readable.from([]);
      // Checked here too: not every S3 stand-in honours If-Match.
      if (ifMatch !== undefined && object.ETag !== ifMatch) {
        body.destroy();
        return 'changed';
      }
      return { meta: storedObject(object, totalSize(object)), body };
    },
  };
}
