/**
 * Serving a stored object over a Node HTTP server, for the servers that stand where
 * CloudFront stands (the local origin, the mirror). The path has already passed the
 * viewer-request guard (lib/cdn/viewer-request.ts) and any signature check; this decides
 * the answer with lib/http/object-response.ts and streams the body with back-pressure.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ErrorCode } from './errors.ts';
import { errorStatus } from './errors.ts';
import type { ObjectMeta, ObjectPlan } from './object-response.ts';
import { needsMetadataFirst, planHeaders, planObjectResponse } from './object-response.ts';

export interface StoredObject extends ObjectMeta {
  readonly contentType?: string;
  readonly cacheControl?: string;
}

export interface ReadOptions {
  /** Inclusive byte range. */
  readonly range?: { readonly start: number; readonly end: number };
  /** Read only if the object still has this entity tag. */
  readonly ifMatch?: string;
}

/** Where objects come from: S3 for the local origin, a directory for the mirror. */
export interface ObjectSource {
  /** The object's metadata; undefined when there is no such object. */
  stat(key: string): Promise<StoredObject | undefined>;
  /** The object's body (only `range`, when given); undefined when there is no such object, 'changed' when `ifMatch` no longer holds. */
  read(key: string, options?: ReadOptions): Promise<{ readonly meta: StoredObject; readonly body: Readable } | undefined | 'changed'>;
}

export function sendError(res: ServerResponse, code: ErrorCode, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const body = Buffer.from(JSON.stringify({ error: { code, message } }));
  res.writeHead(errorStatus[code], { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers, 'content-length': String(body.length) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

const CLIENT_GONE = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);

/** Whether an error only says that the client went away (closed, reset, timed out): not a fault of ours. */
export function isClientGone(error: unknown, res?: ServerResponse): boolean {
  if (res && (res.destroyed || res.socket?.destroyed === true) && !res.writableFinished) return true;
  const code = (error as { code?: unknown } | undefined)?.code;
  // A request body cut short fails with 'aborted', which Node codes ECONNRESET.
  return typeof code === 'string' && CLIENT_GONE.has(code);
}

function objectHeaders(plan: ObjectPlan, meta: StoredObject): Record<string, string> {
  const headers = planHeaders(plan, meta);
  if (meta.cacheControl) headers['cache-control'] = meta.cacheControl;
  if (meta.contentType && plan.status !== 304 && plan.status !== 416) headers['content-type'] = meta.contentType;
  return headers;
}

/** A plan answered without the object's bytes: 304, 412, 416, or the 200 of a HEAD. */
function answerWithoutBody(res: ServerResponse, plan: ObjectPlan, meta: StoredObject): void {
  if (plan.status === 416) {
    const headers = objectHeaders(plan, meta);
    return sendError(res, 'RANGE_NOT_SATISFIABLE', `the range is outside the object's ${meta.size} bytes`, { 'content-range': headers['content-range'] ?? '' });
  }
  if (plan.status === 412) return sendError(res, 'PRECONDITION_FAILED', 'a precondition of the request does not hold');
  res.writeHead(plan.status, objectHeaders(plan, meta));
  res.end();
}

export interface ServeOptions {
  /**
   * A download during which the client takes no data for this long is closed. Measured on
   * the body, not the socket: the kernel lets a reader that never reads trickle in a few
   * bytes now and then, which keeps a socket timeout from ever firing.
   */
  readonly idleTimeoutMs: number;
}

async function stream(res: ServerResponse, body: Readable, options: ServeOptions): Promise<'served' | 'client-gone'> {
  // The body flows only as fast as the response drains (back-pressure), so a chunk
  // leaving the body means the client took the one before it.
  const stalled = setTimeout(() => res.destroy(), options.idleTimeoutMs);
  body.on('data', () => stalled.refresh());
  try {
    await pipeline(body, res);
    return 'served';
  } catch (error) {
    body.destroy();
    if (isClientGone(error, res)) return 'client-gone';
    throw error;
  } finally {
    clearTimeout(stalled);
  }
}

/**
 * Answers a GET or HEAD of `key` from `source`. A plain GET opens the body at once and
 * decides from what came with it (one read); a Range or HEAD looks at the metadata first,
 * because a range is resolved against the size.
 */
export async function serveObject(req: IncomingMessage, res: ServerResponse, key: string, source: ObjectSource, options: ServeOptions): Promise<'served' | 'not-found' | 'client-gone'> {
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') {
    sendError(res, 'METHOD_NOT_ALLOWED', `${method} is not allowed here`, { allow: 'GET, HEAD' });
    return 'served';
  }
  const notFound = () => {
    sendError(res, 'NOT_FOUND', `/${key} does not exist`);
    return 'not-found' as const;
  };

  if (!needsMetadataFirst(method, req.headers)) {
    const opened = await source.read(key);
    if (opened === undefined || opened === 'changed') return notFound();
    const plan = planObjectResponse(method, req.headers, opened.meta);
    if (plan.status !== 200) {
      opened.body.destroy();
      answerWithoutBody(res, plan, opened.meta);
      return 'served';
    }
    res.writeHead(200, objectHeaders(plan, opened.meta));
    return stream(res, opened.body, options);
  }

  const meta = await source.stat(key);
  if (meta === undefined) return notFound();
  const plan = planObjectResponse(method, req.headers, meta);
  if (method === 'HEAD' || (plan.status !== 200 && plan.status !== 206)) {
    answerWithoutBody(res, plan, meta);
    return 'served';
  }
  const range = plan.status === 206 ? { start: plan.start, end: plan.end } : undefined;
  const opened = await source.read(key, { ...(range && { range }), ...(meta.etag !== undefined && { ifMatch: meta.etag }) });
  if (opened === undefined) return notFound();
  if (opened === 'changed') {
    // Replaced between the look and the read (only timestamp.json ever is): the range was
    // for the old bytes, so send the new object whole, which a Range request allows.
    const whole = await source.read(key);
    if (whole === undefined || whole === 'changed') return notFound();
    res.writeHead(200, objectHeaders({ status: 200 }, whole.meta));
    return stream(res, whole.body, options);
  }
  res.writeHead(plan.status, objectHeaders(plan, meta));
  return stream(res, opened.body, options);
}
