/**
 * The Node HTTP server for processes that face agents directly where the cloud has
 * CloudFront and API Gateway in front (the local origin, the mirror). Node answers some
 * broken requests itself, before any handler runs, with an empty body; here every such
 * answer is a contract error body too, and a client that goes away is nobody's error.
 */
import { STATUS_CODES, createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ErrorCode } from '#lib/http/errors.ts';
import { errorStatus } from '#lib/http/errors.ts';
import { sendError } from '#lib/http/serve-object.ts';

/** Node's default; a header block beyond it is answered 431. */
export const MAX_HEADER_BYTES = 16 * 1024;

function errorFor(code: string | undefined): { code: ErrorCode; message: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { code: 'HEADERS_TOO_LARGE', message: `the request headers exceed ${MAX_HEADER_BYTES} bytes` };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { code: 'REQUEST_TIMEOUT', message: 'the request did not arrive in time' };
    default:
      return { code: 'INVALID_REQUEST', message: `the request is not valid HTTP/1.1 (${code ?? 'parse error'})` };
  }
}

/** Written straight to the socket: a request Node could not parse has no response object. */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  // Mid-response (a pipelined request broke while an answer was going out) there is no
  // clean place for a second status line: only closing is honest.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const { code, message } = errorFor(error.code);
  const status = errorStatus[code];
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      'Content-Type: application/json\r\nCache-Control: no-store\r\nConnection: close\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** Whether a Host header names a host (and port) and nothing else: it becomes part of URLs that signatures cover. */
function isHostOnly(host: string): boolean {
  try {
    const url = new URL(`http://${host}`);
    return url.pathname === '/' && url.username === '' && url.password === '' && url.search === '' && url.hash === '' && !host.endsWith('/');
  } catch {
    return false;
  }
}

/**
 * Connections served at once by default. Each costs memory however little its client reads
 * (docs/mirror.md, "Memory bound"): the cap is what keeps the process's memory bounded.
 */
export const DEFAULT_MAX_CONNECTIONS = 1024;

/** A connection beyond the cap gets this long to send its request and take its 503. */
const REFUSED_TIMEOUT_MS = 5_000;

/** What a refused connection is told to wait before it tries again, seconds. */
const REFUSED_RETRY_AFTER_SECONDS = 5;

/**
 * Connections beyond the cap that are still answered 503 (each waiting for its request);
 * beyond these too, Node drops the connection unanswered (`server.maxConnections`), so a
 * flood of connections that send nothing costs no more than this many refusals.
 */
function refusalHeadroom(maxConnections: number): number {
  return Math.max(64, Math.ceil(maxConnections / 4));
}

export interface EdgeServerOptions {
  /** HTTPS with this certificate (PEM, the chain after the leaf) and key; plain HTTP without. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  /**
   * Connections served at once (DEFAULT_MAX_CONNECTIONS when absent). A request on a
   * connection beyond them is answered 503 UNAVAILABLE with Retry-After and the connection
   * closed; past a headroom of such refusals, new connections are closed unanswered.
   */
  readonly maxConnections?: number;
}

export function createEdgeServer(handle: (req: IncomingMessage, res: ServerResponse) => void, options: EdgeServerOptions = {}): Server {
  // Host is checked below, so its refusal carries a body like every other.
  const serverOptions = { requireHostHeader: false, maxHeaderSize: MAX_HEADER_BYTES };
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  // The connections HTTP is spoken on (for HTTPS, once the handshake is done), counted as
  // they come: the first maxConnections open at a time are served, the rest refused.
  const refused = new WeakSet<Socket>();
  let served = 0;
  const admit = (socket: Socket) => {
    if (served >= maxConnections) {
      refused.add(socket);
      socket.setTimeout(REFUSED_TIMEOUT_MS, () => socket.destroy());
      return;
    }
    served++;
    socket.once('close', () => served--);
  };
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    if (refused.has(req.socket)) {
      res.setHeader('connection', 'close');
      return sendError(res, 'UNAVAILABLE', `the server is serving its limit of ${maxConnections} connections, retry later`, { 'retry-after': String(REFUSED_RETRY_AFTER_SECONDS) });
    }
    const { host } = req.headers;
    if (host === undefined ? req.httpVersionMajor === 1 && req.httpVersionMinor >= 1 : !isHostOnly(host)) {
      res.setHeader('connection', 'close');
      return sendError(res, 'INVALID_REQUEST', host === undefined ? 'host: an HTTP/1.1 request needs a Host header' : 'host: is not a host name and port');
    }
    handle(req, res);
  };
  // An https.Server is an http.Server on a TLS socket: the same events, timeouts and handler.
  const server = options.tls ? (createHttpsServer({ ...serverOptions, ...options.tls }, listener) as unknown as Server) : createServer(serverOptions, listener);
  server.keepAliveTimeout = 65_000; // longer than clients' idle timeouts, as CloudFront's is
  server.on(options.tls ? 'secureConnection' : 'connection', admit);
  // Counts every TCP connection, TLS handshakes included: the backstop behind the refusals.
  server.maxConnections = maxConnections + refusalHeadroom(maxConnections);
  server.on('clientError', answerClientError);
  return server;
}
