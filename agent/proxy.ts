/**
 * Proxy settings: a `proxy.conf` file (one line `proxy:port:user:password`, user and
 * password may be empty, basic authentication only) or the usual environment variables
 * `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` (also lower case). Pure.
 */

export interface ProxySettings {
  readonly host: string;
  readonly port: number;
  /** Absent or empty: no authentication. */
  readonly username?: string;
  readonly password?: string;
}

/**
 * Parses a proxy.conf. Blank lines and `#` comments are ignored; the first remaining line
 * counts. The password is everything after the third colon, so it may contain colons.
 * An IPv6 proxy is written in brackets: `[::1]:3128::`.
 */
export function parseProxyConf(text: string): ProxySettings {
  const line = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('#'));
  if (line === undefined) throw new Error('proxy.conf is empty: expected one line proxy:port:user:password');
  let host: string;
  let rest: string;
  if (line.startsWith('[')) {
    const end = line.indexOf(']');
    if (end < 0) throw new Error('proxy.conf: unclosed [ in the proxy address');
    host = line.slice(1, end);
    rest = line.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) throw new Error('proxy.conf: expected proxy:port:user:password');
    rest = rest.slice(1);
  } else {
    const colon = line.indexOf(':');
    host = colon < 0 ? line : line.slice(0, colon);
    rest = colon < 0 ? '' : line.slice(colon + 1);
  }
  if (host === '') throw new Error('proxy.conf: the proxy host is empty');
  const [portText = '', username = '', ...passwordParts] = rest.split(':');
  const password = passwordParts.join(':');
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw new Error(`proxy.conf: the port must be a number from 1 to 65535, got "${portText}"`);
  }
  return { host, port: Number(portText), ...(username !== '' && { username }), ...(password !== '' && { password }) };
}

/** `http://user:pass@host:port` (the environment's form) to settings. */
export function parseProxyUrl(value: string): ProxySettings {
  const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  if (url.protocol !== 'http:') throw new Error(`only http:// proxies are supported, not ${url.protocol}`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const username = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  return { host, port: url.port ? Number(url.port) : 80, ...(username !== '' && { username }), ...(password !== '' && { password }) };
}

/** Whether NO_PROXY (comma/space separated hosts, `.suffix`, `*.suffix`, `host:port`, `*`) exempts the URL. */
export function bypassesProxy(target: URL, noProxy: string | undefined): boolean {
  if (!noProxy) return false;
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  for (const raw of noProxy.split(/[\s,]+/)) {
    let entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    let entryPort: string | undefined;
    const portMatch = /^(.*[^:]):(\d+)$/.exec(entry);
    if (portMatch && !entry.includes('::')) {
      entry = portMatch[1] ?? entry;
      entryPort = portMatch[2];
    }
    if (entryPort && entryPort !== port) continue;
    entry = entry.replace(/^\*/, '');
    if (entry.startsWith('.') ? host.endsWith(entry) || host === entry.slice(1) : host === entry || host.endsWith(`.${entry}`)) return true;
  }
  return false;
}

/**
 * The proxy for a URL: the configured one (proxy.conf) if any, else the environment's
 * (`HTTPS_PROXY` for https, `HTTP_PROXY` for http), unless NO_PROXY exempts the host.
 * proxy.conf is explicit configuration: NO_PROXY still applies to it, the environment's
 * own proxy variables do not override it.
 */
export function proxyFor(url: string, configured: ProxySettings | undefined, env: NodeJS.ProcessEnv = process.env): ProxySettings | undefined {
  const target = new URL(url);
  const noProxy = env.NO_PROXY ?? env.no_proxy;
  if (bypassesProxy(target, noProxy)) return undefined;
  if (configured) return configured;
  const fromEnv = target.protocol === 'https:' ? env.HTTPS_PROXY ?? env.https_proxy : env.HTTP_PROXY ?? env.http_proxy;
  return fromEnv ? parseProxyUrl(fromEnv) : undefined;
}

/** The `Proxy-Authorization` value for basic authentication, or `undefined` without a user. */
export function basicAuthorization(settings: ProxySettings): string | undefined {
  if (settings.username === undefined && settings.password === undefined) return undefined;
  return `Basic ${Buffer.from(`${settings.username ?? ''}:${settings.password ?? ''}`).toString('base64')}`;
}

/** `host:port` for messages (never the credentials). */
export function proxyLabel(settings: ProxySettings): string {
  return settings.host.includes(':') ? `[${settings.host}]:${settings.port}` : `${settings.host}:${settings.port}`;
}
