/**
 * The one AWS region the local stack plays. The handlers get it as AWS_REGION, the origin
 * accepts admin requests SigV4-signed for it (and for API Gateway's service) only, as the
 * IAM authorizer of a deployed API accepts its own region only, and the CLI signs for it
 * when it talks to a local stack.
 */
import type { SigningScope } from '#lib/aws/sigv4.ts';
import { API_GATEWAY_SERVICE } from '#lib/aws/sigv4.ts';

export const localRegion = 'us-east-1';

/** The credential scope the local origin accepts on the admin routes. */
export const localAdminScope: SigningScope = { region: localRegion, service: API_GATEWAY_SERVICE };

/** The identity the local stack's admin credentials stand for. */
export const localAdminArn = 'arn:aws:iam::000000000000:user/signet-local-admin';
