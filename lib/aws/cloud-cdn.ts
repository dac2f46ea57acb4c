/**
 * The CDN as the manifest function sees it in the cloud: its base URL and key-pair id
 * from the SSM parameter the global stack writes, and grants signed by the KMS CDN key.
 *
 * The domain and public key id exist only once the global stack is deployed, and that
 * stack depends on the API stack; so they cannot be environment variables of the
 * function, and are read once at cold start instead (docs/cdk.md, "The CDN identity
 * parameter").
 */
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { FunctionConfig } from '#lib/config.ts';
import { kmsPolicySigner } from '#lib/delivery/grant.ts';
import type { Cdn } from '#lib/services.ts';

/** The SSM parameter's value: what the global stack knows about the CDN. */
export interface CdnParameter {
  readonly baseUrl: string;
  readonly keyPairId: string;
}

export async function readCdnParameter(name: string, region: string): Promise<CdnParameter> {
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

export async function cloudCdn(config: FunctionConfig): Promise<Cdn> {
  const { baseUrl, keyPairId } = await readCdnParameter(config.get('cdnParameter'), config.get('cdnParameterRegion'));
  return { baseUrl: baseUrl.replace(/\/+$/, ''), signer: kmsPolicySigner(keyPairId, config.get('cdnKmsKey')) };
}
