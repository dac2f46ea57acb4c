/**
 * Where agents download from and how their grants are signed, from the environment:
 * the CDN's base URL, and the CDN key (a KMS key in the cloud, a PEM file locally).
 */
import { readFileSync } from 'node:fs';
import { requireEnv } from '#lib/config.ts';
import type { PolicySigner } from './grant.ts';
import { kmsPolicySigner, pemPolicySigner } from './grant.ts';

export const deliveryEnv = {
  cdnBaseUrl: 'SIGNET_CDN_BASE_URL',
  keyPairId: 'SIGNET_CDN_KEY_PAIR_ID',
  kmsKey: 'SIGNET_CDN_KMS_KEY',
  privateKeyFile: 'SIGNET_CDN_PRIVATE_KEY_FILE',
} as const;

export interface DeliveryConfig {
  readonly cdnBaseUrl: string;
  readonly signer: PolicySigner;
  readonly grantLifetimeSeconds: number;
  readonly renewBeforeSeconds: number;
}

export function deliveryConfig(env: NodeJS.ProcessEnv = process.env): DeliveryConfig {
  const cdnBaseUrl = requireEnv(deliveryEnv.cdnBaseUrl, env).replace(/\/+$/, '');
  const keyPairId = requireEnv(deliveryEnv.keyPairId, env);
  const kmsKey = env[deliveryEnv.kmsKey];
  const signer = kmsKey ? kmsPolicySigner(keyPairId, kmsKey) : pemPolicySigner(keyPairId, readFileSync(requireEnv(deliveryEnv.privateKeyFile, env), 'utf8'));
  // An hour's grant by default, renewed when a quarter is left: a download started with it has 15 minutes at least.
  const lifetime = Number(env.SIGNET_GRANT_LIFETIME_SECONDS ?? 3600);
  if (!Number.isInteger(lifetime) || lifetime < 4) throw new Error(`SIGNET_GRANT_LIFETIME_SECONDS must be a whole number >= 4, got ${env.SIGNET_GRANT_LIFETIME_SECONDS}`);
  return { cdnBaseUrl, signer, grantLifetimeSeconds: lifetime, renewBeforeSeconds: Math.floor(lifetime / 4) };
}
