/**
 * The local stack's services, as each function sees them: the same `Services` a Lambda
 * container makes from its environment (lib/aws/cloud-services.ts), made here from the
 * stack's own clients, key files and settings. Nothing is passed through process.env, so
 * two stacks can run in one process.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RuntimeSettings } from '#lib/config.ts';
import { configFromValues } from '#lib/config.ts';
import { localBucketName } from '#lib/definitions/bucket.ts';
import { declaredVariables, functionDefinition } from '#lib/definitions/routes.ts';
import { localTableName, mainTable } from '#lib/definitions/tables.ts';
import { pemPolicySigner } from '#lib/delivery/grant.ts';
import type { Logger } from '#lib/log.ts';
import { createLogger } from '#lib/log.ts';
import type { Services } from '#lib/services.ts';
import { readLocalCdnKey } from '#lib/cdn/key-files.ts';
import { localRegion } from './region.ts';
import { tufSigner } from './tuf-keys.ts';

export interface LocalContext {
  readonly dataDir: string;
  /** The origin's URL: where grants send agents. */
  readonly baseUrl: string;
  readonly dynamo: DynamoDBDocumentClient;
  readonly s3: S3Client;
  readonly settings: RuntimeSettings;
  /** Each function's logger; by default Powertools', on stdout as in Lambda. */
  readonly logger?: (functionId: string) => Logger;
  /** Runs another function of the stack in-process (the stand-in for an asynchronous Lambda invoke, awaited so tests see its effect). */
  readonly invoke: (functionId: string, event: unknown) => Promise<void>;
}

export function localServices(functionId: string, context: LocalContext): Services {
  const config = configFromValues(functionId, declaredVariables(functionDefinition(functionId)), {
    mainTable: localTableName(mainTable),
    bucket: localBucketName,
    // The local stack plays one region, the primary: it serves every route.
    primaryRegion: localRegion,
    ...context.settings,
  });
  return {
    config,
    dynamo: context.dynamo,
    s3: () => context.s3,
    onlineSigner: (role) => tufSigner(context.dataDir, role),
    // The newest local CDN key, read when the function is built, as Lambda reads its key at cold start.
    cdn: async () => {
      const key = await readLocalCdnKey(context.dataDir);
      return { baseUrl: context.baseUrl, signer: pemPolicySigner(key.keyPairId, key.privateKeyPem) };
    },
    invoke: context.invoke,
    logger: context.logger?.(functionId) ?? createLogger(functionId),
    now: () => new Date(),
  };
}
