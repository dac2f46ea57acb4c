import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/**
 * The viewer's address. Behind CloudFront, API Gateway's source IP is the edge's, and
 * the viewer's is the first entry CloudFront put in X-Forwarded-For.
 */
export function clientAddress(event: APIGatewayProxyEventV2): string {
  const forwarded = event.headers['x-forwarded-for']?.split(',')[0]?.trim();
  return forwarded || event.requestContext.http.sourceIp;
}
