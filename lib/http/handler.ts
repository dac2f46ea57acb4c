/**
 * The one wrapper every API function uses: middy, with the refusal mapping below, so each
 * handler file is only "parse, call the domain, map the result". The contract's error body
 * is ours (`{ error: { code, message } }`), which is why this is not
 * @middy/http-error-handler: that one answers text, and exposes messages by status.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { Refusal, Unavailable } from '#lib/errors.ts';
import type { Logger } from '#lib/log.ts';
import { logMessages } from '#lib/log.ts';
import { errorBody, refusalResponse } from './errors.ts';
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

export function toErrorResult(error: unknown, requestId: string, logger: Logger): HttpResult {
  const refusal = error instanceof Refusal ? error : isDownstreamOutage(error) ? new Unavailable('a backing service is unavailable, retry later') : undefined;
  if (refusal) {
    const { status, body, headers } = refusalResponse(refusal);
    return json(status, body, headers);
  }
  // A bug, not a client mistake: log it whole for us, tell the client nothing about it.
  logger.error(logMessages.unhandledError, { requestId, error: error instanceof Error ? error : String(error) });
  return json(500, errorBody('INTERNAL', `internal error (request ${requestId})`));
}

export function apiHandler(logger: Logger, fn: ApiHandler) {
  return middy<APIGatewayProxyEventV2, HttpResult>()
    .onError((request) => {
      request.response = toErrorResult(request.error, request.context.awsRequestId, logger);
    })
    .handler(fn);
}
