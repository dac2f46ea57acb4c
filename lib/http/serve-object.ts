/**
 * Serving a stored object over a Node HTTP server, for the servers that stand where
 * CloudFront stands (the local origin, the mirror). The path has already passed the
 * viewer-request guard (lib/cdn/viewer-request.ts) and any signature check; this decides
 * the answer with lib/http/object-response.ts and streams the body with back-pressure.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ReadStream, read as readCallback } from 'node:fs';
import { promisify } from 'node:util';
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

/** The byte range of a whole object. */
function whole(meta: ObjectMeta): { start: number; end: number } {
  return { start: 0, end: meta.size - 1 };
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

/** Reads for a reader not (yet) known to keep up: what one that stalls holds in this process. */
export const SLOW_READ_BYTES = 64 * 1024;

/** Shared by all responses: the large reads of readers that keep up (see BufferPool). */
export const FAST_POOL_BYTES = 64 * 1024 * 1024;

/** A read the socket took within this long was taken quickly. */
const QUICK_MS = 50;

/**
 * Reads stay slow-sized until the socket has taken this much quickly, more than the kernel
 * buffers of a reader that never reads absorb (one with a small receive buffer, as
 * test/support/held-connections.py opens them), so such readers do not take the pool's
 * buffers; from there each quick read doubles the next.
 */
const PROVEN_BYTES = 256 * 1024;

/**
 * The large read buffers of all responses together: at most `bytes / size` exist, each lent
 * to one read and given back once the socket has taken its bytes (the write's callback),
 * then reused. Memory for large reads is this pool's and no more, however many readers
 * there are, and it stays allocated (no churn of megabyte blocks for malloc to fragment).
 * A buffer whose response closed before its write completed is not reused (the socket may
 * still hold it); it is left to the garbage collector and the pool makes another.
 */
class BufferPool {
  private readonly free: Buffer[] = [];
  private made = 0;

  constructor(
    readonly size: number,
    private readonly count: number,
  ) {}

  take(): Buffer | undefined {
    const buffer = this.free.pop();
    if (buffer) return buffer;
    if (this.made >= this.count) return undefined;
    this.made++;
    return Buffer.allocUnsafeSlow(this.size);
  }

  give(buffer: Buffer): void {
    this.free.push(buffer);
  }

  forget(): void {
    this.made--;
  }
}

const read = promisify(readCallback);

const pools = new Map<number, BufferPool>();
/** The pool of buffers of `size` (a source's read size: the mirror's is 1 MiB). */
function poolOf(size: number): BufferPool {
  let pool = pools.get(size);
  if (!pool) {
    pool = new BufferPool(size, Math.max(1, Math.floor(FAST_POOL_BYTES / size)));
    pools.set(size, pool);
  }
  return pool;
}

/** The descriptor of a file stream, once it is open. */
function descriptorOf(body: ReadStream): Promise<number> {
  const fd = (body as ReadStream & { fd?: unknown }).fd;
  if (!body.pending && typeof fd === 'number') return Promise.resolve(fd);
  return new Promise((resolve, reject) => {
    body.once('open', resolve);
    body.once('error', reject);
  });
}

/**
 * A file's bytes `start`..`end` (inclusive) to `res`, read from the file stream's
 * descriptor at sizes fitted to what the socket takes; the stream itself is never
 * consumed (its read-ahead would hold a second large chunk per response) and is closed at
 * the end. Reads are SLOW_READ_BYTES until the socket has taken PROVEN_BYTES, each within
 * QUICK_MS; then each quick one doubles the next, up to the stream's own highWaterMark
 * (the source's chosen read size), in buffers from the shared pool; a slow one starts
 * over. The next read waits until the socket has taken the last. So a reader that never reads holds one slow read, and readers that keep
 * up read as large as the source asks while the pool lasts (then slow-sized).
 */
async function streamFile(res: ServerResponse, body: ReadStream, start: number, end: number, options: ServeOptions): Promise<'served' | 'client-gone'> {
  const stalled = setTimeout(() => res.destroy(), options.idleTimeoutMs);
  const large = Math.max(SLOW_READ_BYTES, body.readableHighWaterMark);
  const pool = poolOf(large);
  /** Pooled buffers lent to writes not yet complete. */
  const lent = new Set<Buffer>();
  let closed = false;
  const gone = new Promise<void>((resolve) => res.once('close', resolve));
  /** This response's slow-read buffer, once the socket has taken its bytes. */
  let spare: Buffer | undefined;
  res.once('close', () => {
    closed = true;
    for (let i = 0; i < lent.size; i++) pool.forget();
    lent.clear();
  });
  try {
    const fd = await descriptorOf(body);
    let size = SLOW_READ_BYTES;
    /** Bytes the socket has taken quickly, read after read, since it last did not. */
    let quickly = 0;
    let position = start;
    while (position <= end && !res.destroyed) {
      const wanted = Math.min(size, end - position + 1);
      const pooled = wanted > SLOW_READ_BYTES ? pool.take() : undefined;
      const buffer = pooled ?? spare ?? Buffer.allocUnsafeSlow(SLOW_READ_BYTES);
      if (buffer === spare) spare = undefined;
      const { bytesRead } = await read(fd, buffer, 0, Math.min(wanted, buffer.length), position);
      if (bytesRead === 0) {
        if (pooled) pool.give(pooled);
        throw new Error(`the file ended at byte ${position} of ${end + 1}`);
      }
      if (res.destroyed) {
        if (pooled) pool.give(pooled);
        break;
      }
      position += bytesRead;
      const written = Date.now();
      let taken = false;
      if (pooled) lent.add(pooled);
      // The next read waits for the socket to have taken this one: what the response holds
      // in this process is one read, whatever the client does.
      const took = new Promise<void>((resolve) => {
        res.write(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead), (error) => {
          taken = !error && Date.now() - written <= QUICK_MS;
          if (pooled && lent.delete(pooled)) pool.give(pooled);
          // The socket is done with it: the next slow read goes into the same memory.
          else if (!pooled && !error) spare = buffer;
          resolve();
        });
      });
      await Promise.race([took, gone]);
      // The socket took the read (so the client took data): the download is alive.
      stalled.refresh();
      if (taken) {
        quickly += bytesRead;
        if (quickly >= PROVEN_BYTES) size = Math.min(large, size * 2);
      } else {
        quickly = 0;
        size = SLOW_READ_BYTES;
      }
    }
    if (closed || res.destroyed) return 'client-gone';
    await new Promise<void>((resolve, reject) => {
      res.once('close', resolve);
      res.end((error?: Error | null) => (error ? reject(error) : resolve()));
    });
    return res.writableFinished ? 'served' : 'client-gone';
  } catch (error) {
    if (isClientGone(error, res)) return 'client-gone';
    throw error;
  } finally {
    clearTimeout(stalled);
    body.destroy();
  }
}

async function stream(res: ServerResponse, body: Readable, options: ServeOptions, range: { readonly start: number; readonly end: number }): Promise<'served' | 'client-gone'> {
  if (body instanceof ReadStream) return streamFile(res, body, range.start, range.end, options);
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
    return stream(res, opened.body, options, whole(opened.meta));
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
    const again = await source.read(key);
    if (again === undefined || again === 'changed') return notFound();
    res.writeHead(200, objectHeaders({ status: 200 }, again.meta));
    return stream(res, again.body, options, whole(again.meta));
  }
  res.writeHead(plan.status, objectHeaders(plan, meta));
  return stream(res, opened.body, options, range ?? whole(meta));
}
