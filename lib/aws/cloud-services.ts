/**
 * A Lambda function's services, from its environment: the variables its definition
 * declares (parsed once, every problem named at once), AWS clients, KMS signers, and the
 * CDN's identity from the SSM parameter the global stack writes.
 *
 * The CDN's domain and public key id exist only once the global stack is deployed, and
 * that stack depends on the API stack; so they cannot be environment variables of these
 * functions, and are read once at cold start instead (docs/cdk.md, "The CDN identity
 * parameter").
 */
import { S3Client } from '@aws-sdk/client-s3';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { configFromEnv } from '#lib/config.ts';
import type { FunctionConfig } from '#lib/config.ts';
import { declaredVariables, functionDefinition } from '#lib/definitions/routes.ts';
import { kmsPolicySigner } from '#lib/delivery/grant.ts';
import { createLogger } from '#lib/log.ts';
import type { Cdn, Services } from '#lib/services.ts';
import { kmsSigner } from '#lib/tuf/online-signers.ts';
import { dynamoDocumentClient } from './clients.ts';

/** The SSM parameter's value: what the global stack knows about the CDN. */
export interface CdnParameter {
  readonly baseUrl: string;
  readonly keyPairId: string;
}

async function readCdnParameter(name: string, region: string): Promise<CdnParameter> {
  const ssm = new SSMClient({ region, maxAttempts: 3 });
  try {
    const { Parameter } = await ssm.send(new GetParameterCommand({ Name: name }));
    const value = JSON.parse(Parameter?.Value ?? '{}') as Partial<CdnParameter>;
    if (typeof value.baseUrl !== 'string' || typeof value.keyPairId !== 'string') throw new Error(`SSM parameter ${name} is not { baseUrl, keyPairId }`);
    return { baseUrl: value.baseUrl, keyPairId: value.keyPairId };
  } finally {
    ssm.destroy();
  }
}

async function cloudCdn(config: FunctionConfig): Promise<Cdn> {
  const { baseUrl, keyPairId } = await readCdnParameter(config.get('cdnParameter'), config.get('cdnParameterRegion'));
  return { baseUrl: baseUrl.replace(/\/+$/, ''), signer: kmsPolicySigner(keyPairId, config.get('cdnKmsKey')) };
}

export function cloudServices(functionId: string, env: NodeJS.ProcessEnv = process.env): Services {
  const config = configFromEnv(functionId, declaredVariables(functionDefinition(functionId)), env);
  let s3: S3Client | undefined;
  return {
    config,
    dynamo: dynamoDocumentClient(),
    s3: () => (s3 ??= new S3Client({ maxAttempts: 3 })),
    onlineSigner: (role) => kmsSigner(config.get(role === 'snapshot' ? 'snapshotKmsKey' : 'timestampKmsKey')),
    cdn: () => cloudCdn(config),
    logger: createLogger(functionId),
    now: () => new Date(),
  };
}
