/**
 * A Lambda function's services, from its environment: the variables its definition
 * declares (parsed once, every problem named at once), a DynamoDB client, a logger and a
 * clock. What only some functions use (S3, the KMS signers, the CDN) each Lambda entry
 * passes in from the modules below, so a function's bundle holds, and its cold start
 * loads, only the clients it uses.
 */
import { configFromEnv } from '#lib/config.ts';
import { declaredVariables, functionDefinition } from '#lib/definitions/routes.ts';
import { createLogger } from '#lib/log.ts';
import type { Services } from '#lib/services.ts';
import { dynamoDocumentClient } from './clients.ts';

export class NotPrimaryRegion extends Error {
  override readonly name = 'NotPrimaryRegion';
}

/**
 * A function that writes the repository or takes admin calls (`primaryOnly`) refuses to
 * start anywhere but the primary region: a commit made in a replica region would race the
 * primary's on the global table (last writer wins) and write metadata nobody serves. CDK
 * deploys these functions in the primary region only; this holds if one is ever deployed,
 * copied or invoked elsewhere.
 */
export function assertPrimaryRegion(functionId: string, primaryRegion: string, currentRegion: string | undefined): void {
  if (currentRegion !== primaryRegion) {
    throw new NotPrimaryRegion(
      `function ${functionId} writes the repository or takes admin calls and runs in the primary region ${primaryRegion} only, not in ${currentRegion ?? '(AWS_REGION unset)'}: call the primary region's API`,
    );
  }
}

type Extras = Partial<Pick<Services, 's3' | 'onlineSigner' | 'cdn' | 'invoke'>>;

export function cloudServices(functionId: string, extras: (config: Services['config']) => Extras = () => ({}), env: NodeJS.ProcessEnv = process.env): Services {
  // A replica region's reports function has no repository function to start (only the region that signs timestamps writes).
  const definition = functionDefinition(functionId);
  const config = configFromEnv(functionId, declaredVariables(definition), env, ['repositoryFunction']);
  if (definition.primaryOnly) assertPrimaryRegion(functionId, config.get('primaryRegion'), env.AWS_REGION);
  const given = extras(config);
  const missing = (what: string) => () => {
    throw new Error(`function ${functionId} uses ${what}, which its Lambda entry does not provide`);
  };
  return {
    config,
    dynamo: dynamoDocumentClient(),
    s3: given.s3 ?? missing('S3'),
    onlineSigner: given.onlineSigner ?? missing('an online TUF key'),
    cdn: given.cdn ?? missing('the CDN'),
    invoke: given.invoke ?? missing('another function'),
    logger: createLogger(functionId),
    now: () => new Date(),
  };
}
