/**
 * Local S3: s3rver, in-process, on a free loopback port, keeping its objects under the
 * data dir. The bucket is the one lib/definitions/bucket.ts names.
 *
 * s3rver does not check SigV4 signatures or upload checksums; what the service relies
 * on there (CloudFront signed URLs, SHA-256 of targets) is verified in our own code.
 */
import { mkdir } from 'node:fs/promises';
import type { Agent } from 'node:http';
import { join } from 'node:path';
import S3rver from 's3rver';
import { S3Client } from '@aws-sdk/client-s3';

export interface S3Local {
  readonly endpoint: string;
  readonly client: S3Client;
  stop(): Promise<void>;
}

/** s3rver accepts any signature (allowMismatchedSignatures) but only its own access key id. */
export const localCredentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/**
 * A client for local S3, with the settings it needs and the cloud does not: path-style
 * addressing (no bucket DNS names on 127.0.0.1), and no streaming trailer checksums
 * (s3rver cannot parse aws-chunked bodies).
 */
export function localS3Client(endpoint: string, httpAgent?: Agent): S3Client {
  return new S3Client({
    ...(httpAgent && { requestHandler: { httpAgent } }),
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: localCredentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export async function startS3Local(dataDir: string, bucket: string): Promise<S3Local> {
  const directory = join(dataDir, 's3');
  await mkdir(directory, { recursive: true }); // s3rver needs it to exist
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    allowMismatchedSignatures: true,
    vhostBuckets: false,
    configureBuckets: [{ name: bucket }],
  });
  const address = await server.run();
  if (server.httpServer) {
    // Node closes an idle keep-alive socket after 5 s; a client reusing it at that moment
    // gets ECONNRESET, which the SDK cannot retry for a streamed upload. Far longer than
    // any gap between one process's S3 calls, as S3's own idle timeout is.
    server.httpServer.keepAliveTimeout = 65_000;
    server.httpServer.headersTimeout = 66_000;
  }
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = localS3Client(endpoint);
  return {
    endpoint,
    client,
    stop: async () => {
      client.destroy();
      server.httpServer?.closeAllConnections();
      await server.close();
    },
  };
}
