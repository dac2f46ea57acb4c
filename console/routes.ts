/**
 * The admin routes the console forwards, by their route keys in lib/definitions/routes.ts,
 * and the matching of a page's `/api/...` call to one of them. Only what the page uses:
 * the proxy signs with the operator's credentials, so it forwards no more than the page
 * needs (no publishing, no repository root, no agent revocation from here).
 */
import { routes } from '#lib/definitions/routes.ts';
import type { HttpMethod } from '#lib/definitions/routes.ts';

export const CONSOLE_ROUTE_KEYS = [
  'GET /v1/admin/products',
  'GET /v1/admin/fleet/{product}',
  'POST /v1/admin/channels/{product}/{channel}/promote',
  'POST /v1/admin/channels/{product}/{channel}/halt',
  'GET /v1/admin/licenses',
  'POST /v1/admin/licenses',
  'GET /v1/admin/licenses/{licenseId}',
  'GET /v1/admin/licenses/{licenseId}/agents',
  'POST /v1/admin/licenses/{licenseId}/suspend',
  'POST /v1/admin/licenses/{licenseId}/resume',
  'GET /v1/admin/blacklist',
  'PUT /v1/admin/blacklist/{machineId}',
  'DELETE /v1/admin/blacklist/{machineId}',
  'GET /v1/admin/audit',
] as const;

const API_PREFIX = '/api/';
const ADMIN_PREFIX = '/v1/admin/';

/** A route path as a matcher: `{name}` is one non-empty path segment. */
function matcher(path: string): RegExp {
  const pattern = path
    .split('/')
    .map((segment) => (/^\{\w+\}$/.test(segment) ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${pattern}$`);
}

const forwarded = routes
  .filter((r) => r.authorization === 'iam' && (CONSOLE_ROUTE_KEYS as readonly string[]).includes(`${r.method} ${r.path}`))
  .map((r) => ({ method: r.method, match: matcher(r.path) }));

/**
 * The admin API path (with its query string) a page's `/api/<rest>` call goes to, or
 * undefined when it names no route the console forwards. Path parameters stay as the
 * page encoded them; encoded slashes and dot segments are refused rather than decoded.
 */
export function adminTarget(method: string, url: string): string | undefined {
  const parsed = new URL(url, 'http://console.invalid');
  if (!parsed.pathname.startsWith(API_PREFIX)) return undefined;
  const path = ADMIN_PREFIX + parsed.pathname.slice(API_PREFIX.length);
  if (/%2f|%5c|(^|\/)\.\.?(\/|$)/i.test(path)) return undefined;
  const known = forwarded.some((r) => r.method === (method as HttpMethod) && r.match.test(path));
  return known ? `${path}${parsed.search}` : undefined;
}
