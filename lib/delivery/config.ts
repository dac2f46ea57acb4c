/**
 * Where agents download from and how their grants are signed: the CDN's base URL and
 * the CDN key (a KMS key in the cloud, a PEM file locally).
 *
 * In the cloud the distribution's domain and the CloudFront public key id exist only
 * once the global stack is deployed, which itself depends on the API stack; so the
 * global stack writes them to an SSM parameter (`SIGNET_CDN_PARAMETER`, in
 * `SIGNET_CDN_PARAMETER_REGION`) that the function reads once at cold start. Locally
 * the stack sets `SIGNET_CDN_BASE_URL` and `SIGNET_CDN_KEY_PAIR_ID` directly.
 */
import { readFileSync } from 'node:fs';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { requireEnv } from '#lib/config.ts';
import type { PolicySigner } from './grant.ts';
import { kmsPolicySigner, pemPolicySigner } from './grant.ts';

export const deliveryEnv = {
  cdnBaseUrl: 'SIGNET_CDN_BASE_URL',
  keyPairId: 'SIGNET_CDN_KEY_PAIR_ID',
  parameter: 'SIGNET_CDN_PARAMETER',
  parameterRegion: 'SIGNET_CDN_PARAMETER_REGION',
  kmsKey: 'SIGNET_CDN_KMS_KEY',
  privateKeyFile: 'SIGNET_CDN_PRIVATE_KEY_FILE',
} as const;

/** The SSM parameter's value: what the global stack knows about the CDN. */
export interface CdnParameter {
  readonly baseUrl: string;
  readonly keyPairId: string;
}

export interface DeliveryConfig {
  readonly cdnBaseUrl: string;
  readonly signer: PolicySigner;
  readonly grantLifetimeSeconds: number;
  readonly renewBeforeSeconds: number;
}

async function cdnIdentity(env: NodeJS.ProcessEnv): Promise<CdnParameter> {
  const baseUrl = env[deliveryEnv.cdnBaseUrl];
  const keyPairId = env[deliveryEnv.keyPairId];
  if (baseUrl && keyPairId) return { baseUrl, keyPairId };
  const name = requireEnv(deliveryEnv.parameter, env);
  const ssm = new SSMClient({ region: env[deliveryEnv.parameterRegion] ?? env.AWS_REGION, maxAttempts: 3 });
  try {
    const { Parameter } = await ssm.send(new GetParameterCommand({ Name: name }));
    const value = JSON.parse(Parameter?.Value ?? '{}') as Partial<CdnParameter>;
    if (typeof value.baseUrl !== 'string' || typeof value.keyPairId !== 'string') throw new Error(`SSM parameter ${name} is not { baseUrl, keyPairId }`);
    return { baseUrl: value.baseUrl, keyPairId: value.keyPairId };
  } finally {
    ssm.destroy();
  }
}

export async function deliveryConfig(env: NodeJS.ProcessEnv = process.env): Promise<DeliveryConfig> {
  const { baseUrl, keyPairId } = await cdnIdentity(env);
  const kmsKey = env[deliveryEnv.kmsKey];
  const signer = kmsKey ? kmsPolicySigner(keyPairId, kmsKey) : pemPolicySigner(keyPairId, readFileSync(requireEnv(deliveryEnv.privateKeyFile, env), 'utf8'));
  // An hour's grant by default, renewed when a quarter is left: a download started with it has 15 minutes at least.
  const lifetime = Number(env.SIGNET_GRANT_LIFETIME_SECONDS ?? 3600);
  if (!Number.isInteger(lifetime) || lifetime < 4) throw new Error(`SIGNET_GRANT_LIFETIME_SECONDS must be a whole number >= 4, got ${env.SIGNET_GRANT_LIFETIME_SECONDS}`);
  return { cdnBaseUrl: baseUrl.replace(/\/+$/, ''), signer, grantLifetimeSeconds: lifetime, renewBeforeSeconds: Math.floor(lifetime / 4) };
}
