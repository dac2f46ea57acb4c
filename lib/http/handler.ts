/**
 * The one wrapper every API function uses: middy with the error mapping below, so each
 * handler file is only "parse, call the domain, map the result".
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { ApiError, unavailable } from './errors.ts';
import type { HttpResult } from './response.ts';
import { json } from './response.ts';

export type ApiHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<HttpResult>;

/** Error names of the AWS SDK that mean "the downstream did not answer", not "we are wrong". */
const DOWNSTREAM_UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'TimeoutError',
  'RequestTimeout',
  'ServiceUnavailable',
  'InternalServerError',
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
]);

function isDownstreamOutage(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return DOWNSTREAM_UNAVAILABLE.has(error.name) || (typeof code === 'string' && DOWNSTREAM_UNAVAILABLE.has(code));
}

export function toErrorResult(error: unknown, requestId: string): HttpResult {
  const apiError =
    error instanceof ApiError ? error : isDownstreamOutage(error) ? unavailable('a backing service') : undefined;
  if (apiError) return json(apiError.status, apiError.toBody(), { ...apiError.headers });
  // A bug, not a client mistake: log it whole for us, tell the client nothing about it.
  console.error(JSON.stringify({ level: 'error', requestId, message: 'unhandled error', error: String(error), stack: error instanceof Error ? error.stack : undefined }));
  return json(500, { error: { code: 'INTERNAL', message: `internal error (request ${requestId})` } });
}

export function apiHandler(fn: ApiHandler) {
  return middy<APIGatewayProxyEventV2, HttpResult>()
    .onError((request) => {
      request.response = toErrorResult(request.error, request.context.awsRequestId);
    })
    .handler(fn);
}
