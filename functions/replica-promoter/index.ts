/** Lambda entry: the replica promoter, built once per container from the environment (the bucket only). */
import { S3Client } from '@aws-sdk/client-s3';
import { s3ReplicaBucket } from '#lib/aws/objects.ts';
import { configFromEnv } from '#lib/config.ts';
import { createLogger } from '#lib/log.ts';
import { createReplicaPromoterHandler } from './handler.ts';

// Not in lib/definitions/routes.ts: it serves no route and exists only in replica regions' storage stacks (cdk/constructs/replica-promoter.ts).
const config = configFromEnv('replicaPromoter', ['bucket'], process.env);
const s3 = new S3Client({ maxAttempts: 3 });
export const handler = createReplicaPromoterHandler({ bucket: s3ReplicaBucket(s3, config.get('bucket')), now: () => new Date(), logger: createLogger('replicaPromoter') });
