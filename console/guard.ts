/**
 * What the console's local server lets through to the admin API. The server signs every
 * call it forwards with the operator's credentials, so anything that can make it forward
 * a request acts as the operator: it must be the operator's own tab, not another web
 * page open in the same browser, nor a page that renamed itself to 127.0.0.1 by DNS
 * rebinding. Three checks, each for one attack (docs/console.md, "Who may use the proxy"):
 *
 * - the Host header names this server (a rebound name would arrive as `evil.example:PORT`);
 * - the request is not cross-site: `Origin` and `Sec-Fetch-Site`, which browsers set and
 *   pages cannot forge, name this origin (or are absent, as for curl);
 * - it carries the per-process token, which only the URL printed at start holds: a page
 *   that cannot read our responses (same-origin policy) cannot learn it.
 *
 * Pure: the server passes the headers in, and answers with the refusal given.
 */
import { timingSafeEqual } from 'node:crypto';

export const TOKEN_HEADER = 'x-signet-console-token';

export interface ProxyRequestHeaders {
  readonly method: string;
  readonly host: string | undefined;
  readonly origin: string | undefined;
  readonly secFetchSite: string | undefined;
  readonly token: string | undefined;
  readonly contentType: string | undefined;
}

export interface Refused {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/** The Host values this server answers to: its loopback address and port, by either IP or as localhost. */
export function allowedHosts(address: string, port: number): string[] {
  const own = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  return [...new Set([own, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`])];
}

function sameToken(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Why the Host header is not one of ours, if it is not: checked for every request, pages included. */
export function hostRefusal(host: string | undefined, hosts: readonly string[]): Refused | undefined {
  if (host !== undefined && hosts.includes(host.toLowerCase())) return undefined;
  return { status: 421, code: 'MISDIRECTED_REQUEST', message: `this console answers to ${hosts.join(' or ')} only` };
}

/** Why a call to /api/* may not be forwarded, if it may not. */
export function proxyRefusal(request: ProxyRequestHeaders, expected: { readonly hosts: readonly string[]; readonly token: string }): Refused | undefined {
  const host = hostRefusal(request.host, expected.hosts);
  if (host) return host;
  const ownOrigins = expected.hosts.map((h) => `http://${h}`);
  if (request.origin !== undefined && !ownOrigins.includes(request.origin.toLowerCase())) {
    return { status: 403, code: 'CROSS_ORIGIN', message: `requests from ${request.origin} are refused` };
  }
  if (request.secFetchSite !== undefined && request.secFetchSite !== 'same-origin' && request.secFetchSite !== 'none') {
    return { status: 403, code: 'CROSS_ORIGIN', message: `${request.secFetchSite} requests are refused` };
  }
  if (!sameToken(request.token, expected.token)) {
    return { status: 401, code: 'CONSOLE_TOKEN', message: 'missing or wrong console token: open the URL signet console printed' };
  }
  // A body is JSON only: a cross-site form can post text/plain without a preflight, never application/json.
  const hasBody = request.method === 'POST' || request.method === 'PUT';
  if (hasBody && request.contentType?.split(';')[0]?.trim().toLowerCase() !== 'application/json') {
    return { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: 'the console sends application/json only' };
  }
  return undefined;
}
