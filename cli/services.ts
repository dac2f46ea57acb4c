/**
 * Where a command finds the bucket and an S3 client: a local stack's services.json when
 * given its data dir, else the standard AWS chain and the bucket the service names.
 */
import { readFile } from 'node:fs/promises';
import { S3Client } from '@aws-sdk/client-s3';
import { localS3Client } from '#local/s3-local.ts';
import { servicesPath } from '#local/stack.ts';
import { CliError } from './errors.ts';

export async function s3For(dataDir: string | undefined, bucketFromService: string): Promise<{ s3: S3Client; bucket: string }> {
  if (dataDir) {
    const text = await readFile(servicesPath(dataDir), 'utf8').catch(() => {
      throw new CliError(`the local stack of ${dataDir} is not running (no services.json): start it with npm start`);
    });
    const services = JSON.parse(text) as { s3Endpoint: string; bucket: string };
    return { s3: localS3Client(services.s3Endpoint), bucket: services.bucket };
  }
  return { s3: new S3Client({}), bucket: bucketFromService };
}
