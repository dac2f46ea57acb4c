/**
 * The local origin: one HTTP server that plays CloudFront in front of the service.
 *
 *   /v1/*        → the real Lambda handlers, through API Gateway v2 events
 *   /metadata/*  → local S3, public
 *   /targets/*   → local S3, only with a valid CloudFront signed URL (403 otherwise)
 *
 * The path spaces come from lib/definitions/bucket.ts, the routes from
 * lib/definitions/routes.ts: the same definitions the CDK stacks deploy.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Context } from 'aws-lambda';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import type { GetObjectCommandOutput, HeadObjectCommandOutput, S3Client } from '@aws-sdk/client-s3';
import { apiPathPattern, pathSpaces } from '#lib/definitions/bucket.ts';
import type { FunctionDefinition, RouteDefinition } from '#lib/definitions/routes.ts';
import type { ErrorCode } from '#lib/http/errors.ts';
import { errorStatus } from '#lib/http/errors.ts';
import type { KeyGroup } from '#lib/cdn/signed-url.ts';
import { verifySignedUrl } from '#lib/cdn/signed-url.ts';
import type { Credentials } from '#lib/aws/sigv4.ts';
import { verifySignedRequest } from '#lib/aws/sigv4.ts';
import type { IamAuthorizerContext, OutgoingResponse } from './api-gateway-event.ts';
import { fromLambdaResult, toApiGatewayEvent } from './api-gateway-event.ts';
import { localAdminScope } from './region.ts';
import { createRouter } from './router.ts';

/** API Gateway HTTP API's request payload limit. */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;

export type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;

export interface OriginOptions {
  readonly routes: readonly RouteDefinition[];
  readonly functions: ReadonlyMap<string, { readonly definition: FunctionDefinition; readonly handler: LambdaHandler }>;
  readonly s3: S3Client;
  readonly bucket: string;
  /** The key group as it is now (keys come and go with rotation). */
  readonly keyGroup: () => Promise<KeyGroup>;
  /** The credentials SigV4-signed admin requests must be signed with (the local stand-in for IAM). */
  readonly adminCredentials: Credentials;
  readonly log?: (line: string) => void;
}

/** The identity the local stack's admin credentials stand for. */
export const localAdminArn = 'arn:aws:iam::000000000000:user/signet-local-admin';

const apiPrefix = apiPathPattern.slice(0, -1); // '/v1/'

function sendError(res: ServerResponse, code: ErrorCode, message: string, headers: Record<string, string> = {}): void {
  send(res, {
    statusCode: errorStatus[code],
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
    body: Buffer.from(JSON.stringify({ error: { code, message } })),
  });
}

function send(res: ServerResponse, response: OutgoingResponse): void {
  if (res.headersSent) return;
  res.writeHead(response.statusCode, { ...response.headers, 'content-length': String(response.body.length) });
  res.end(res.req.method === 'HEAD' ? undefined : response.body);
}

function clientIp(req: IncomingMessage): string {
  const ip = req.socket.remoteAddress ?? '127.0.0.1';
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

class BodyTooLarge extends Error {}

/**
 * Beyond this, an oversized body is not even drained: the connection is closed on it.
 * Below it, the rest of an oversized body is read and dropped before the 413 goes out,
 * so a client still sending gets its answer instead of a broken pipe.
 */
const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > DRAIN_LIMIT_BYTES) throw new BodyTooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > DRAIN_LIMIT_BYTES) break;
    if (size <= limit) chunks.push(chunk);
  }
  if (size > limit) throw new BodyTooLarge();
  return Buffer.concat(chunks);
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
const TIMED_OUT = Symbol('timed out');

function lambdaContext(definition: FunctionDefinition, requestId: string, deadline: number): Context {
  const name = `signet-local-${definition.id}`;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${name}`,
    memoryLimitInMB: String(definition.memoryMb),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** S3 object headers an origin passes through to the viewer, as CloudFront does. */
function objectHeaders(object: GetObjectCommandOutput | HeadObjectCommandOutput): Record<string, string> {
  const headers: Record<string, string> = { 'accept-ranges': 'bytes' };
  if (object.ETag) headers.etag = object.ETag;
  if (object.ContentType) headers['content-type'] = object.ContentType;
  if (object.CacheControl) headers['cache-control'] = object.CacheControl;
  if (object.ContentEncoding) headers['content-encoding'] = object.ContentEncoding;
  if (object.LastModified) headers['last-modified'] = object.LastModified.toUTCString();
  if (object.ContentLength !== undefined) headers['content-length'] = String(object.ContentLength);
  if ('ContentRange' in object && object.ContentRange) headers['content-range'] = object.ContentRange;
  return headers;
}

function s3ErrorStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

export function createOrigin(options: OriginOptions) {
  const match = createRouter(options.routes);
  const log = options.log ?? (() => undefined);

  async function serveApi(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    // API Gateway checks the payload size before it routes.
    let body: Buffer;
    try {
      body = await readBody(req, MAX_BODY_BYTES);
    } catch (error) {
      if (error instanceof BodyTooLarge) {
        res.setHeader('connection', 'close');
        return sendError(res, 'PAYLOAD_TOO_LARGE', `request body exceeds ${MAX_BODY_BYTES} bytes`);
      }
      throw error;
    }

    const found = match(req.method ?? 'GET', path);
    if (found.kind === 'not-found') return sendError(res, 'NOT_FOUND', `no route for ${path}`);
    if (found.kind === 'method-not-allowed') return sendError(res, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}`);
    const fn = options.functions.get(found.route.functionId);
    if (!fn) return sendError(res, 'INTERNAL', `route ${found.routeKey} has no local handler`);
    let iamAuthorizer: IamAuthorizerContext | undefined;
    if (found.route.authorization === 'iam') {
      const verdict = await verifySignedRequest(
        {
          method: req.method ?? 'GET',
          url: new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`),
          headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')])),
          body: body.toString('utf8'),
        },
        options.adminCredentials,
        localAdminScope,
      );
      if (!verdict.ok) {
        log(`403 ${path}: ${verdict.reason}`);
        return sendError(res, 'FORBIDDEN', 'admin routes need a valid SigV4 signature');
      }
      iamAuthorizer = {
        accessKey: verdict.accessKeyId,
        accountId: '000000000000',
        callerId: verdict.accessKeyId,
        principalOrgId: null,
        userArn: localAdminArn,
        userId: verdict.accessKeyId,
      };
    }

    const receivedAt = new Date();
    const event = toApiGatewayEvent(
      {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: { ...req.headers, 'x-forwarded-for': clientIp(req) },
        body,
        sourceIp: clientIp(req),
        receivedAt,
      },
      { routeKey: found.routeKey, pathParameters: found.pathParameters, ...(iamAuthorizer && { iamAuthorizer }) },
    );
    const requestId = event.requestContext.requestId;
    const timeoutMs = fn.definition.timeoutSeconds * 1000;
    const context = lambdaContext(fn.definition, requestId, receivedAt.getTime() + timeoutMs);
    let result: unknown;
    try {
      result = await withTimeout(fn.handler(event, context), timeoutMs);
    } catch (error) {
      // In Lambda an uncaught error is a failed invocation, which API Gateway answers with 500.
      log(`handler ${fn.definition.id} threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      return sendError(res, 'INTERNAL', `internal error (request ${requestId})`);
    }
    if (result === TIMED_OUT) {
      log(`handler ${fn.definition.id} timed out after ${fn.definition.timeoutSeconds} s`);
      return sendError(res, 'UNAVAILABLE', 'the request timed out, retry later', { 'retry-after': '5' });
    }
    send(res, fromLambdaResult(result as Parameters<typeof fromLambdaResult>[0]));
  }

  async function checkSignature(req: IncomingMessage): Promise<{ ok: true } | { ok: false; reason: string }> {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
    return verifySignedUrl({ url, now: new Date(), sourceIp: clientIp(req), keyGroup: await options.keyGroup() });
  }

  async function serveObject(req: IncomingMessage, res: ServerResponse, key: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendError(res, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed here`, { allow: 'GET, HEAD' });
    }
    const conditional = {
      Bucket: options.bucket,
      Key: key,
      ...(typeof req.headers['if-none-match'] === 'string' && { IfNoneMatch: req.headers['if-none-match'] }),
      ...(typeof req.headers['if-modified-since'] === 'string' && { IfModifiedSince: new Date(req.headers['if-modified-since']) }),
    };
    try {
      if (req.method === 'HEAD') {
        const head = await options.s3.send(new HeadObjectCommand(conditional));
        res.writeHead(200, objectHeaders(head));
        res.end();
        return;
      }
      const range = typeof req.headers.range === 'string' ? req.headers.range : undefined;
      const object = await options.s3.send(new GetObjectCommand({ ...conditional, ...(range && { Range: range }) }));
      res.writeHead(object.ContentRange ? 206 : 200, objectHeaders(object));
      if (object.Body instanceof Readable) await pipeline(object.Body, res);
      else res.end();
    } catch (error) {
      const status = s3ErrorStatus(error);
      if (status === 304) {
        res.writeHead(304);
        res.end();
      } else if (status === 404) sendError(res, 'NOT_FOUND', `${key} does not exist`);
      else if (status === 416) {
        res.writeHead(416, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'INVALID_REQUEST', message: 'range not satisfiable' } }));
      } else if (status === 412) {
        res.writeHead(412);
        res.end();
      } else throw error;
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawUrl = req.url ?? '/';
    const path = rawUrl.split('?')[0] ?? '/';
    if (path.startsWith(apiPrefix)) return serveApi(req, res, path);
    const space = pathSpaces.find((s) => path.startsWith(`/${s.prefix}`));
    // CloudFront normalises the path before it reaches S3; refuse what could escape the space.
    if (!space || path.includes('/../') || path.includes('//') || path.endsWith('/')) {
      return sendError(res, 'NOT_FOUND', `nothing is served at ${path}`);
    }
    if (space.signedUrlRequired) {
      const verdict = await checkSignature(req);
      if (!verdict.ok) {
        log(`403 ${path}: ${verdict.reason}`);
        return sendError(res, 'FORBIDDEN', 'a valid CloudFront signed URL is required');
      }
    }
    let key: string;
    try {
      key = decodeURIComponent(path.slice(1));
    } catch {
      return sendError(res, 'NOT_FOUND', 'malformed path');
    }
    return serveObject(req, res, key);
  }

  return function handle(req: IncomingMessage, res: ServerResponse): void {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log(`${req.method} ${(req.url ?? '/').split('?')[0]} ${res.statusCode} ${ms.toFixed(1)}ms`);
    });
    route(req, res).catch((error: unknown) => {
      const id = randomUUID();
      log(`origin error ${id}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      if (res.headersSent) res.destroy();
      else sendError(res, 'UNAVAILABLE', `the origin could not serve this request (${id}), retry later`, { 'retry-after': '5' });
    });
  };
}
