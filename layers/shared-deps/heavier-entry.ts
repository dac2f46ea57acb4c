/**
 * A synthetic function for measure.ts, never deployed: the health handler's imports plus
 * the third-party modules the later functions will use (zod/mini, S3, KMS, the CloudFront
 * signer). It does at module scope what a real function does at init, so that work is in
 * the measured `import()`: clients built once, the schema built once. @tufjs/models is
 * left out while it is not installed.
 */
import { KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/cloudfront-signer';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod/mini';
import { cloudServices } from '#lib/aws/cloud-services.ts';
import { apiHandler } from '#lib/http/handler.ts';
import { json } from '#lib/http/response.ts';

const services = cloudServices('health');
const mainTable = services.config.get('mainTable');
const s3 = new S3Client({ maxAttempts: 2 });
const kms = new KMSClient({ maxAttempts: 2 });

const DownloadRequest = z.object({
  licenseKey: z.string().check(z.minLength(16), z.maxLength(64)),
  computerId: z.string().check(z.regex(/^[A-Za-z0-9-]{8,64}$/)),
  product: z.enum(['desktop', 'server']),
});

export const handler = apiHandler(services.logger, async (event) => {
  const request = DownloadRequest.parse(JSON.parse(event.body ?? '{}'));
  await services.dynamo.send(new GetCommand({ TableName: mainTable, Key: { pk: `license#${request.licenseKey}`, sk: 'license' } }));
  await s3.send(new GetObjectCommand({ Bucket: 'measure', Key: `metadata/${request.product}.json` }));
  await kms.send(new SignCommand({ KeyId: 'alias/measure', Message: new Uint8Array([1]), SigningAlgorithm: 'ECDSA_SHA_256' }));
  const url = getSignedUrl({
    url: `https://cdn.example.com/targets/${request.product}`,
    keyPairId: 'K0000000000000',
    privateKey: 'unused at init',
    dateLessThan: new Date(Date.now() + 60_000).toISOString(),
  });
  return json(200, { url });
});
