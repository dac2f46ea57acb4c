/**
 * The page's one way to the admin API: `/api/<route>` on the console's own server, which
 * signs and forwards it. The token comes from the URL's fragment (never sent to any
 * server, so never logged nor leaked as a referrer), is kept for this tab only, and
 * leaves the address bar at once.
 */
const TOKEN_KEY = 'signet-console-token';

function token() {
  const fromUrl = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    history.replaceState(null, '', location.pathname);
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

/** A refusal as the API worded it: `CODE: message`, one line. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(`${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

/** Calls `method /v1/admin/<path>`; resolves with its JSON, rejects with an ApiError. */
export async function call(method, path, body) {
  let response;
  try {
    response = await fetch(`/api/${path}`, {
      method,
      // JSON on every POST and PUT, bodiless ones too: the console's server refuses any other type there.
      headers: { 'x-signet-console-token': token(), ...(method !== 'GET' && method !== 'DELETE' && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError(0, 'CONSOLE_UNREACHABLE', 'the console process does not answer: is signet console still running?');
  }
  const payload = await response.json().catch(() => undefined);
  if (!response.ok) throw new ApiError(response.status, payload?.error?.code ?? `HTTP_${response.status}`, payload?.error?.message ?? response.statusText);
  return payload;
}

/** `path?name=value&...`, leaving out undefined values. */
export function withQuery(path, query) {
  const params = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== ''));
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

// Read once at load, so the token leaves the address bar before anything else runs.
token();
