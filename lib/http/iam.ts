import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { Forbidden } from '#lib/errors.ts';

/**
 * The IAM principal of a SigV4-signed request, as API Gateway's IAM authorizer (or the
 * local origin's SigV4 check) put it in the request context. Recorded as the actor of
 * every change.
 */
export function iamActor(event: APIGatewayProxyEventV2): string {
  const iam = (event.requestContext as { authorizer?: { iam?: { userArn?: string } } }).authorizer?.iam;
  if (!iam?.userArn) throw new Forbidden('this route needs a SigV4-signed request');
  return iam.userArn;
}
