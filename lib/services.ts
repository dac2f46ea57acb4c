/**
 * What a function is built from: its configuration and what surrounds it (clients,
 * signers, a logger, a clock). In Lambda, lib/aws/cloud-services.ts makes them from the
 * environment once per container; the local stack makes them from its own services
 * (local/services.ts). Each function's `handler.ts` turns them into its dependencies and
 * its handler, the same code in both places.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { FunctionConfig } from '#lib/config.ts';
import type { PolicySigner } from '#lib/delivery/grant.ts';
import type { Logger } from '#lib/log.ts';
import type { OnlineRole } from '#lib/tuf/online-signers.ts';
import type { Signer } from '#lib/tuf/signer.ts';

export interface Cdn {
  /** `https://cdn.example.com`, no trailing slash. */
  readonly baseUrl: string;
  /** Signs download grants with the CDN key the key group trusts. */
  readonly signer: PolicySigner;
}

export interface Services {
  readonly config: FunctionConfig;
  readonly dynamo: DynamoDBDocumentClient;
  /** Made on first use: only the release functions talk to S3. */
  s3(): S3Client;
  /** The online TUF key of `role` (KMS in the cloud, a file locally). */
  onlineSigner(role: OnlineRole): Promise<Signer>;
  /** Where agents download from, and the grant signer (an SSM parameter and KMS in the cloud). */
  cdn(): Promise<Cdn>;
  /** Starts another function of the service (by definition id) with `event`, without waiting for its answer. */
  invoke(functionId: string, event: unknown): Promise<void>;
  readonly logger: Logger;
  readonly now: () => Date;
}
