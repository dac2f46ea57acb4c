/** Lambda entry: the mirrors handler, built once per container from the environment, its KMS keys and the CDN parameter. */
import { S3Client } from '@aws-sdk/client-s3';
import { cloudCdn } from '#lib/aws/cloud-cdn.ts';
import { cloudServices } from '#lib/aws/cloud-services.ts';
import { kmsOnlineSigner } from '#lib/tuf/online-signers.ts';
import { createMirrorsHandler, mirrorsDependencies } from './handler.ts';

const s3 = new S3Client({ maxAttempts: 3 });
export const handler = createMirrorsHandler(
  await mirrorsDependencies(cloudServices('mirrors', (config) => ({ s3: () => s3, onlineSigner: kmsOnlineSigner(config), cdn: () => cloudCdn(config) }))),
);
