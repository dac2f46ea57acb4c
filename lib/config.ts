/**
 * Runtime configuration, read once from the environment when a function's container
 * starts. A missing variable fails the cold start with a message that names it, rather
 * than a confusing error on the first request.
 *
 * Endpoints are not configured here: the AWS SDK reads `AWS_ENDPOINT_URL_DYNAMODB` and
 * `AWS_ENDPOINT_URL_S3` itself, which is how the local stack points the same code at
 * DynamoDB Local and s3rver.
 */
import { bucketEnvVar } from './definitions/bucket.ts';
import { mainTable } from './definitions/tables.ts';

export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new Error(`missing environment variable ${name}`);
  }
  return value;
}

export interface TableConfig {
  readonly mainTable: string;
}

export function tableConfig(env: NodeJS.ProcessEnv = process.env): TableConfig {
  return { mainTable: requireEnv(mainTable.envVar, env) };
}

export function bucketName(env: NodeJS.ProcessEnv = process.env): string {
  return requireEnv(bucketEnvVar, env);
}

/** How often agents are told to poll for updates, in seconds. */
export function pollSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env.SIGNET_POLL_SECONDS ?? 900);
  if (!Number.isInteger(value) || value < 30) throw new Error(`SIGNET_POLL_SECONDS must be an integer >= 30, got ${env.SIGNET_POLL_SECONDS}`);
  return value;
}
