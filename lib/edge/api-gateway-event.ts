/**
 * Turns a Node HTTP request into the event API Gateway's HTTP API (payload format 2.0)
 * gives a Lambda function, and the function's result back into an HTTP response, with
 * the same rules API Gateway applies. This is what lets the local origin run the real
 * handlers unchanged.
 *
 * Reference: "Working with AWS Lambda proxy integrations for HTTP APIs", payload 2.0.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';

export interface IncomingRequest {
  readonly method: string;
  /** Path and query exactly as received (`/v1/x?a=1`). */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly sourceIp: string;
  readonly receivedAt: Date;
}

export interface MatchedRoute {
  /** `GET /v1/licenses/{key}` */
  readonly routeKey: string;
  readonly pathParameters: Readonly<Record<string, string>>;
  /** For IAM-authorized routes: the caller API Gateway's IAM authorizer established. */
  readonly iamAuthorizer?: IamAuthorizerContext;
}

/** `requestContext.authorizer.iam`, as API Gateway fills it for IAM-authorized routes. */
export interface IamAuthorizerContext {
  readonly accessKey: string;
  readonly accountId: string;
  readonly callerId: string;
  readonly principalOrgId: string | null;
  readonly userArn: string;
  readonly userId: string;
}

export interface OutgoingResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer;
}

/** Content types API Gateway passes as text; everything else arrives base64-encoded. */
function isTextContentType(contentType: string | undefined): boolean {
  if (!contentType) return true; // no body type: API Gateway treats it as text
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return (
    type.startsWith('text/') ||
    type === 'application/json' ||
    type.endsWith('+json') ||
    type === 'application/xml' ||
    type.endsWith('+xml') ||
    type === 'application/x-www-form-urlencoded' ||
    type === 'application/javascript'
  );
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `21/Nov/2026:04:59:57 +0000`, the CLF-style time API Gateway puts in `requestContext.time`. */
export function apiGatewayTime(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${pad(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`
  );
}

/** Header names lower-cased; repeated headers joined with commas (cookies go apart). */
function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name === 'cookie') continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  return out;
}

/** Repeated query parameters are joined with commas, as API Gateway does. */
function queryParameters(search: URLSearchParams): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const [name, value] of search) out[name] = name in out ? `${out[name]},${value}` : value;
  return Object.keys(out).length > 0 ? out : undefined;
}

export function toApiGatewayEvent(request: IncomingRequest, route: MatchedRoute): APIGatewayProxyEventV2 {
  const queryIndex = request.url.indexOf('?');
  const rawPath = queryIndex === -1 ? request.url : request.url.slice(0, queryIndex);
  const rawQueryString = queryIndex === -1 ? '' : request.url.slice(queryIndex + 1);
  const headers = flattenHeaders(request.headers);
  const cookieHeader = request.headers.cookie;
  const cookies = cookieHeader ? cookieHeader.split(';').map((c) => c.trim()).filter(Boolean) : undefined;
  const hasBody = request.body.length > 0;
  const isBase64Encoded = hasBody && !isTextContentType(headers['content-type']);
  const host = headers.host ?? 'localhost';
  const epoch = request.receivedAt.getTime();

  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey: route.routeKey,
    rawPath,
    rawQueryString,
    headers,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: host,
      domainPrefix: host.split('.')[0] ?? host,
      http: {
        method: request.method,
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: request.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: route.routeKey,
      stage: '$default',
      time: apiGatewayTime(request.receivedAt),
      timeEpoch: epoch,
    },
    isBase64Encoded,
  };
  if (route.iamAuthorizer) {
    (event.requestContext as unknown as { authorizer: { iam: IamAuthorizerContext } }).authorizer = { iam: { ...route.iamAuthorizer } };
  }
  if (cookies) event.cookies = cookies;
  const query = queryParameters(new URLSearchParams(rawQueryString));
  if (query) event.queryStringParameters = query;
  if (Object.keys(route.pathParameters).length > 0) event.pathParameters = { ...route.pathParameters };
  if (hasBody) event.body = request.body.toString(isBase64Encoded ? 'base64' : 'utf8');
  return event;
}

/**
 * API Gateway's reading of a payload 2.0 result: a structured result (`statusCode`
 * present) is taken as is; anything else is JSON for a 200.
 */
export function fromLambdaResult(result: APIGatewayProxyResultV2 | undefined): OutgoingResponse {
  if (result === undefined || result === null) {
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: Buffer.alloc(0) };
  }
  if (typeof result === 'string' || typeof result !== 'object' || !('statusCode' in result)) {
    const text = typeof result === 'string' ? result : JSON.stringify(result);
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(text) };
  }
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name.toLowerCase()] = String(value);
  if (result.cookies && result.cookies.length > 0) headers['set-cookie'] = [...result.cookies];
  const body = result.body === undefined ? Buffer.alloc(0) : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  return { statusCode: result.statusCode ?? 200, headers, body };
}
