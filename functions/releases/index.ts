/** Lambda entry: the releases handler, built once per container from the environment and its KMS keys. */
import { S3Client } from '@aws-sdk/client-s3';
import { cloudServices } from '#lib/aws/cloud-services.ts';
import { kmsOnlineSigner } from '#lib/tuf/online-signers.ts';
import { createReleasesHandler, releasesDependencies } from './handler.ts';

const s3 = new S3Client({ maxAttempts: 3 });
export const handler = createReleasesHandler(await releasesDependencies(cloudServices('releases', (config) => ({ s3: () => s3, onlineSigner: kmsOnlineSigner(config) }))));
