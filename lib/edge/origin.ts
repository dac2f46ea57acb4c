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
import type { TLSSocket } from 'node:tls';
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { apiPathPattern, pathSpaces } from '#lib/definitions/bucket.ts';
import type { FunctionDefinition, RouteDefinition } from '#lib/definitions/routes.ts';
import type { ObjectSource } from '#lib/http/serve-object.ts';
import { isClientGone, sendError, serveObject } from '#lib/http/serve-object.ts';
import type { KeyGroup } from '#lib/cdn/signed-url.ts';
import { verifySignedUrl } from '#lib/cdn/signed-url.ts';
import type { ViewerResponse } from '#lib/cdn/viewer-request.ts';
import { guardObjectPath } from '#lib/cdn/viewer-request.ts';
import type { Credentials, SigningScope } from '#lib/aws/sigv4.ts';
import { verifySignedRequest } from '#lib/aws/sigv4.ts';
import type { IamAuthorizerContext, OutgoingResponse } from './api-gateway-event.ts';
import { fromLambdaResult, toApiGatewayEvent } from './api-gateway-event.ts';
import { createRouter } from './router.ts';

/** API Gateway HTTP API's request payload limit. */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;

/**
 * The viewer's origin as a signed URL names it: the scheme the request came in on (a
 * mirror may serve HTTPS) and its Host, as CloudFront compares a grant with the URL the
 * viewer asked for.
 */
function viewerOrigin(req: IncomingMessage): string {
  const scheme = (req.socket as Partial<TLSSocket>).encrypted ? 'https' : 'http';
  return `${scheme}://${req.headers.host ?? 'localhost'}`;
}

export interface OriginOptions {
  readonly routes: readonly RouteDefinition[];
  readonly functions: ReadonlyMap<string, { readonly definition: FunctionDefinition; readonly handler: LambdaHandler }>;
  /** The bucket's objects (`metadata/...`, `targets/...`). */
  readonly objects: ObjectSource;
  /** A download the client takes nothing of for this long is closed, so stalled readers cannot hold what others need. */
  readonly objectIdleTimeoutMs: number;
  /** The key group as it is now (keys come and go with rotation). */
  readonly keyGroup: () => Promise<KeyGroup>;
  /**
   * How SigV4-signed admin requests are checked (the local stand-in for IAM): the
   * credentials they must be signed with, the scope they must name, and the identity they
   * stand for. Absent: no route needs IAM (the mirror has none).
   */
  readonly admin?: { readonly credentials: Credentials; readonly scope: SigningScope; readonly arn: string };
  readonly log?: (line: string) => void;
  /** Receives one access-log line per request (see `logAccess`). */
  readonly accessLog?: (line: string) => void;
}

/** A chunk as `res.write`/`res.end` take it: bytes, or a string in `encoding`. */
function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  return chunk instanceof Uint8Array ? chunk.byteLength : 0;
}

/**
 * One line per request once its answer is over, finished or abandoned, like a CDN's access
 * log: `<ISO time the answer ended> <method> <path> <status> <body bytes> <ms>`.
 *
 * - The path never carries the query: a signed URL's query is a credential. It cannot
 *   break the line: Node's parser refuses spaces and control characters in a request target.
 * - The status is the one sent; `000` when the client went away before any was (CloudFront's
 *   convention).
 * - Bytes are the body's, not the headers' (nginx's `body_bytes_sent`; CloudFront's
 *   `sc-bytes` counts headers too): those handed to the response, counted by wrapping its
 *   `write` and `end`, since the socket's counter spans every response of a keep-alive
 *   connection. For an abandoned download that is what left Node, which may be more than
 *   the client read.
 */
export function logAccess(req: IncomingMessage, res: ServerResponse, accessLog: (line: string) => void): void {
  const started = process.hrtime.bigint();
  let bytes = 0;
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  // After the end, or on a destroyed response, Node refuses the chunk: it is not counted.
  const counted = () => !res.writableEnded && !res.destroyed;
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (counted()) bytes += byteLength(chunk, rest[0]);
    return write(chunk, ...rest);
  }) as typeof res.write;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (counted() && typeof chunk !== 'function') bytes += byteLength(chunk, rest[0]);
    return end(chunk, ...rest);
  }) as typeof res.end;
  // 'close' comes after 'finish' for a whole answer, and alone for an abandoned one: one line either way.
  res.once('close', () => {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const status = res.headersSent ? String(res.statusCode) : '000';
    accessLog(`${new Date().toISOString()} ${req.method} ${(req.url ?? '/').split('?')[0]} ${status} ${bytes} ${ms.toFixed(1)}`);
  });
}

export type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;

const apiPrefix = apiPathPattern.slice(0, -1); // '/v1/'

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

/** A response the path guard generated, as CloudFront would send it. */
function sendViewerResponse(res: ServerResponse, response: ViewerResponse): void {
  const headers: Record<string, string> = {};
  for (const [name, { value }] of Object.entries(response.headers ?? {})) headers[name] = value;
  send(res, { statusCode: response.statusCode, headers, body: Buffer.from(response.body?.data ?? '') });
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
    if (found.kind === 'method-not-allowed') {
      return sendError(res, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}`, { allow: found.allow.join(', ') });
    }
    const fn = options.functions.get(found.route.functionId);
    if (!fn) return sendError(res, 'INTERNAL', `route ${found.routeKey} has no local handler`);
    let iamAuthorizer: IamAuthorizerContext | undefined;
    if (found.route.authorization === 'iam') {
      const admin = options.admin;
      if (!admin) return sendError(res, 'FORBIDDEN', `${path} is not served here`);
      const verdict = await verifySignedRequest(
        {
          method: req.method ?? 'GET',
          url: new URL(req.url ?? '/', viewerOrigin(req)),
          headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')])),
          body: body.toString('utf8'),
        },
        admin.credentials,
        admin.scope,
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
        userArn: admin.arn,
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

  /**
   * `/metadata/*` and `/targets/*`: the path guard first (CloudFront's viewer-request
   * function, the same code), then the signature over the canonical path it returned,
   * then the object at that path and nowhere else.
   */
  async function serveSpace(req: IncomingMessage, res: ServerResponse, rawPath: string, query: string): Promise<void> {
    const verdict = guardObjectPath(rawPath, req.method ?? 'GET', clientIp(req));
    if (!verdict.ok) return sendViewerResponse(res, verdict.response);
    const { path } = verdict;
    const space = pathSpaces.find((s) => path.startsWith(`/${s.prefix}`));
    if (!space) return sendError(res, 'NOT_FOUND', `nothing is served at ${path}`);
    if (space.signedUrlRequired) {
      const url = new URL(`${path}${query}`, viewerOrigin(req));
      const signature = verifySignedUrl({ url, now: new Date(), sourceIp: clientIp(req), keyGroup: await options.keyGroup() });
      if (!signature.ok) {
        log(`403 ${path}: ${signature.reason}`);
        return sendError(res, 'FORBIDDEN', 'a valid CloudFront signed URL is required');
      }
    }
    const outcome = await serveObject(req, res, path.slice(1), options.objects, { idleTimeoutMs: options.objectIdleTimeoutMs });
    if (outcome === 'client-gone') log(`${req.method} ${path}: the client went away before the end`);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawUrl = req.url ?? '/';
    const queryAt = rawUrl.indexOf('?');
    const rawPath = queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt);
    if (rawPath.startsWith(apiPrefix)) return serveApi(req, res, rawPath);
    return serveSpace(req, res, rawPath, queryAt < 0 ? '' : rawUrl.slice(queryAt));
  }

  return function handle(req: IncomingMessage, res: ServerResponse): void {
    if (options.accessLog) logAccess(req, res, options.accessLog);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log(`${req.method} ${(req.url ?? '/').split('?')[0]} ${res.statusCode} ${ms.toFixed(1)}ms`);
    });
    route(req, res).catch((error: unknown) => {
      if (isClientGone(error, res)) {
        log(`${req.method} ${(req.url ?? '/').split('?')[0]}: the client went away`);
        res.destroy();
        return;
      }
      const id = randomUUID();
      log(`origin error ${id}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      if (res.headersSent) res.destroy();
      else sendError(res, 'UNAVAILABLE', `the origin could not serve this request (${id}), retry later`, { 'retry-after': '5' });
    });
  };
}
