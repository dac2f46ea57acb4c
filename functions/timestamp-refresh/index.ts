/** Lambda entry: the scheduled timestamp refresh, built once per container from the environment and its KMS key. */
import { S3Client } from '@aws-sdk/client-s3';
import { cloudServices } from '#lib/aws/cloud-services.ts';
import { kmsOnlineSigner } from '#lib/tuf/online-signers.ts';
import { createTimestampRefreshHandler, timestampRefreshDependencies } from './handler.ts';

const s3 = new S3Client({ maxAttempts: 3 });
export const handler = createTimestampRefreshHandler(
  await timestampRefreshDependencies(cloudServices('timestampRefresh', (config) => ({ s3: () => s3, onlineSigner: kmsOnlineSigner(config) }))),
);
