/**
 * The console's local server: the page (HTML, its script, and Preact and htm straight
 * from node_modules as ES modules: no build step), and `/api/*`, which it forwards to the
 * admin API, signed with the operator's credentials, like `kubectl proxy`. The browser
 * never holds a credential; what may use the proxy is decided in guard.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { allowedHosts, hostRefusal, proxyRefusal, TOKEN_HEADER } from './guard.ts';
import type { Refused } from './guard.ts';
import { adminTarget } from './routes.ts';

/** What an admin call answered: its status and JSON body (`{ error: { code, message } }` on failure). */
export interface Answer {
  readonly status: number;
  readonly body: unknown;
}

export type AdminCall = (method: string, path: string, body?: unknown) => Promise<Answer>;

export interface ConsoleOptions {
  readonly host: string;
  readonly port: number;
  readonly call: AdminCall;
  /** What the page shows as the server it manages. */
  readonly server: string;
  readonly log?: (line: string) => void;
}

export interface RunningConsole {
  /** The URL to open: it carries the token. */
  readonly url: string;
  readonly token: string;
  readonly port: number;
  close(): Promise<void>;
}

const WEB = join(dirname(fileURLToPath(import.meta.url)), 'web');
/** The third-party modules, by the names the page imports them with: the ES module files their packages export. */
const VENDOR: Record<string, string> = Object.fromEntries(['preact', 'preact/hooks', 'htm'].map((name) => [name, fileURLToPath(import.meta.resolve(name))]));
const vendorPath = (name: string) => `/vendor/${name.replace('/', '-')}.js`;

/** The page's own files, served by these paths only: nothing else under web/ or anywhere is reachable. */
const PAGE_FILES: Record<string, { file: string; type: string }> = {
  '/app.js': { file: join(WEB, 'app.js'), type: 'text/javascript' },
  '/api.js': { file: join(WEB, 'api.js'), type: 'text/javascript' },
  '/format.js': { file: join(WEB, 'format.js'), type: 'text/javascript' },
  '/style.css': { file: join(WEB, 'style.css'), type: 'text/css' },
  ...Object.fromEntries(Object.entries(VENDOR).map(([name, file]) => [vendorPath(name), { file, type: 'text/javascript' }])),
};

const MAX_BODY_BYTES = 64 * 1024;

/** The page, with its import map inline: the one inline script, allowed by its hash in the CSP. */
async function pageAndPolicy(server: string): Promise<{ html: string; csp: string }> {
  const importMap = JSON.stringify({ imports: Object.fromEntries(Object.keys(VENDOR).map((name) => [name, vendorPath(name)])) });
  const template = await readFile(join(WEB, 'index.html'), 'utf8');
  const escaped = server.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const html = template.replace('<!--IMPORT_MAP-->', `<script type="importmap">${importMap}</script>`).replace('<!--SERVER-->', escaped);
  const hash = createHash('sha256').update(importMap).digest('base64');
  const csp = [
    "default-src 'none'",
    `script-src 'self' 'sha256-${hash}'`,
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, csp };
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    // The page's URL carries the token: never send it on as a referrer.
    'referrer-policy': 'no-referrer',
    ...extra,
  });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json', JSON.stringify(body));
}

function refuse(res: ServerResponse, refused: Refused): void {
  sendJson(res, refused.status, { error: { code: refused.code, message: refused.message } });
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const header = (req: IncomingMessage, name: string) => {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const token = randomBytes(24).toString('base64url');
  const { html, csp } = await pageAndPolicy(options.server);
  let hosts: string[] = [];

  async function api(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const refused = proxyRefusal(
      { method, host: header(req, 'host'), origin: header(req, 'origin'), secFetchSite: header(req, 'sec-fetch-site'), token: header(req, TOKEN_HEADER), contentType: header(req, 'content-type') },
      { hosts, token },
    );
    if (refused) return refuse(res, refused);
    const target = adminTarget(method, req.url ?? '/');
    if (!target) return refuse(res, { status: 404, code: 'NOT_FOUND', message: `the console does not forward ${method} ${req.url ?? ''}` });
    const text = await readBody(req);
    if (text === undefined) return refuse(res, { status: 413, code: 'PAYLOAD_TOO_LARGE', message: `a console call carries at most ${MAX_BODY_BYTES} bytes` });
    let body: unknown;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        return refuse(res, { status: 400, code: 'INVALID_REQUEST', message: 'body: not JSON' });
      }
    }
    const answer = await options.call(method, target, body);
    options.log?.(`${method} ${target.split('?')[0] ?? target} ${answer.status}`);
    sendJson(res, answer.status, answer.body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://console.invalid').pathname;
    if (path.startsWith('/api/')) return api(req, res);
    const wrongHost = hostRefusal(header(req, 'host'), hosts);
    if (wrongHost) return refuse(res, wrongHost);
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, { status: 405, code: 'METHOD_NOT_ALLOWED', message: 'the page is read with GET' });
    // Browsers ask for it unprompted; nothing to show, and no 404 in the page's console.
    if (path === '/favicon.ico') return send(res, 204, 'image/x-icon', '');
    if (path === '/') return send(res, 200, 'text/html; charset=utf-8', html, { 'content-security-policy': csp, 'x-frame-options': 'DENY' });
    const file = PAGE_FILES[path];
    if (!file) return refuse(res, { status: 404, code: 'NOT_FOUND', message: `no ${path}` });
    send(res, 200, `${file.type}; charset=utf-8`, await readFile(file.file));
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      options.log?.(`console: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent) refuse(res, { status: 500, code: 'INTERNAL', message: 'the console failed; see its output' });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  hosts = allowedHosts(options.host, port);
  const shown = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${shown}:${port}/#token=${token}`,
    token,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
