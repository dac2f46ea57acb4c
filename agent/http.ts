/**
 * The agent's HTTP client: every request (API calls, metadata, downloads) goes through
 * it, so every request takes the proxy (undici's ProxyAgent, CONNECT tunnel, basic
 * authentication), the timeouts and the retry policy: exponential backoff with full
 * jitter for network errors, 5xx and 429, and the server's Retry-After when it gives one.
 */
import { Agent, ProxyAgent, request as undiciRequest, fetch as undiciFetch } from 'undici';
import type { Dispatcher, RequestInit, Response } from 'undici';
import type { BackoffPolicy } from './backoff.ts';
import { DEFAULT_BACKOFF, backoffDelay, parseRetryAfter, sleep } from './backoff.ts';
import { AgentError } from './errors.ts';
import type { ProxySettings } from './proxy.ts';
import { basicAuthorization, proxyFor, proxyLabel } from './proxy.ts';

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface HttpOptions {
  /** proxy.conf settings; the environment's HTTPS_PROXY/HTTP_PROXY/NO_PROXY apply otherwise. */
  readonly proxy?: ProxySettings;
  readonly env?: NodeJS.ProcessEnv;
  readonly backoff?: Partial<BackoffPolicy>;
  readonly userAgent?: string;
  /** Per-request timeout for the answer's headers and between body chunks, ms. */
  readonly timeoutMs?: number;
  /** For tests and embedders: replaces undici's fetch (the dispatcher is passed in `init`). */
  readonly fetch?: FetchLike;
  readonly signal?: AbortSignal;
  /** Called before each backoff wait. */
  readonly onRetry?: (info: { url: string; attempt: number; delayMs: number; error: AgentError }) => void;
}

/** A download's answer: the status and headers, and the body as a stream of chunks. */
export interface DownloadResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  readonly body: AsyncIterable<Uint8Array>;
  /** Discards the body (frees the connection). */
  cancel(): Promise<void>;
  text(): Promise<string>;
}

export interface ApiAnswer<T> {
  readonly status: number;
  readonly body: T;
}

const RETRYABLE_STATUS = (status: number) => status === 429 || status >= 500;

export class HttpClient {
  readonly backoff: BackoffPolicy;
  private readonly direct: Dispatcher;
  private readonly proxies = new Map<string, Dispatcher>();
  private readonly fetchImpl: FetchLike;

  constructor(private readonly options: HttpOptions = {}) {
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    const timeout = options.timeoutMs ?? 30_000;
    this.direct = new Agent({ headersTimeout: timeout, bodyTimeout: timeout, connectTimeout: Math.min(timeout, 10_000) });
    this.fetchImpl = options.fetch ?? ((url, init) => undiciFetch(url, init));
  }

  get signal(): AbortSignal | undefined {
    return this.options.signal;
  }

  private dispatcherFor(url: string): { dispatcher: Dispatcher; proxy?: ProxySettings } {
    const proxy = proxyFor(url, this.options.proxy, this.options.env ?? process.env);
    if (!proxy) return { dispatcher: this.direct };
    const key = `${proxyLabel(proxy)}|${proxy.username ?? ''}|${proxy.password ?? ''}`;
    let dispatcher = this.proxies.get(key);
    if (!dispatcher) {
      const timeout = this.options.timeoutMs ?? 30_000;
      const token = basicAuthorization(proxy);
      dispatcher = new ProxyAgent({
        uri: `http://${proxyLabel(proxy)}`,
        ...(token && { token }),
        headersTimeout: timeout,
        bodyTimeout: timeout,
        connectTimeout: Math.min(timeout, 10_000),
      });
      this.proxies.set(key, dispatcher);
    }
    return { dispatcher, proxy };
  }

  private withUserAgent(headers: Record<string, string> = {}): Record<string, string> {
    return { 'user-agent': this.options.userAgent ?? 'signet-agent', ...headers };
  }

  /** One request, no retry; transport failures become AgentErrors (NETWORK, PROXY_AUTH, PROXY_UNREACHABLE). */
  async send(url: string, init: RequestInit = {}): Promise<Response> {
    const { dispatcher, proxy } = this.dispatcherFor(url);
    const headers = this.withUserAgent(init.headers as Record<string, string> | undefined);
    try {
      return await this.fetchImpl(url, { ...init, headers, dispatcher, ...(this.options.signal && !init.signal && { signal: this.options.signal }) });
    } catch (error) {
      throw transportError(error, url, proxy, this.options.signal);
    }
  }

  /**
   * One streaming GET, no retry, for target downloads. It uses undici's `request()` on the
   * same dispatcher (so the same proxy): fetch's WHATWG streams cap a body at about 130
   * MB/s on the bench machine, `request()` reaches curl's speed (docs/agent-protocol.md).
   * An injected `fetch` (tests, embedders) is used instead when there is one.
   */
  async download(url: string, headers: Record<string, string> = {}): Promise<DownloadResponse> {
    if (this.options.fetch) return fromFetch(await this.send(url, { headers }));
    const { dispatcher, proxy } = this.dispatcherFor(url);
    try {
      const answer = await undiciRequest(url, {
        dispatcher,
        headers: this.withUserAgent(headers),
        ...(this.options.signal && { signal: this.options.signal }),
      });
      const header = (name: string) => {
        const value = answer.headers[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
      };
      return {
        status: answer.statusCode,
        ok: answer.statusCode >= 200 && answer.statusCode < 300,
        headers: { get: header },
        body: answer.body,
        cancel: async () => {
          await answer.body.dump().catch(() => undefined);
        },
        text: () => answer.body.text(),
      };
    } catch (error) {
      throw transportError(error, url, proxy, this.options.signal);
    }
  }

  /** Runs `attempt` until it succeeds, backing off on retryable AgentErrors. */
  async retrying<T>(url: string, attempt: (n: number) => Promise<T>): Promise<T> {
    for (let n = 0; ; n++) {
      try {
        return await attempt(n);
      } catch (error) {
        if (!(error instanceof AgentError) || !error.retryable || n + 1 >= this.backoff.attempts) throw error;
        if (error.retryAfterMs !== undefined && error.retryAfterMs > this.backoff.maxRetryAfterMs) throw error;
        const delayMs = error.retryAfterMs ?? backoffDelay(n, this.backoff);
        this.options.onRetry?.({ url, attempt: n + 1, delayMs, error });
        await sleep(delayMs, this.options.signal);
      }
    }
  }

  /** A JSON API call with retries; a non-2xx answer throws an AgentError carrying the API's error code. */
  async api<T>(method: string, url: string, body?: unknown, token?: string): Promise<ApiAnswer<T>> {
    return this.retrying(url, async () => {
      const response = await this.send(url, {
        method,
        headers: { accept: 'application/json', ...(body !== undefined && { 'content-type': 'application/json' }), ...(token && { authorization: `Bearer ${token}` }) },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const text = await response.text().catch((error: unknown) => {
        throw transportError(error, url, undefined, this.options.signal);
      });
      if (response.ok) return { status: response.status, body: (text ? JSON.parse(text) : {}) as T };
      throw answerError(response, text, url);
    });
  }
}

function fromFetch(response: Response): DownloadResponse {
  const body = response.body;
  return {
    status: response.status,
    ok: response.ok,
    headers: response.headers,
    body: (body ?? []) as AsyncIterable<Uint8Array>,
    cancel: async () => {
      await body?.cancel();
    },
    text: () => response.text(),
  };
}

/** An error answer as an AgentError: the API's `{ error: { code, message } }` when present. */
export function answerError(response: { status: number; headers: { get(name: string): string | null } }, text: string, url: string): AgentError {
  let code = `HTTP_${response.status}`;
  let message = `${new URL(url).pathname} answered ${response.status}`;
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (typeof parsed.error?.code === 'string') code = parsed.error.code;
    if (typeof parsed.error?.message === 'string') message = parsed.error.message;
  } catch {
    // Not JSON (a CDN or a proxy answered): keep the status.
  }
  if (response.status === 407) return new AgentError('PROXY_AUTH', 'the proxy refused the credentials (407 Proxy Authentication Required): check the user and password in proxy.conf', 407);
  const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
  return new AgentError(code, message, response.status, RETRYABLE_STATUS(response.status), retryAfterMs);
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

function causeChain(error: unknown): Array<{ code?: string; message?: string }> {
  const chain: Array<{ code?: string; message?: string }> = [];
  let current: unknown = error;
  for (let i = 0; i < 5 && current && typeof current === 'object'; i++) {
    const e = current as { code?: unknown; message?: unknown; cause?: unknown };
    chain.push({ ...(typeof e.code === 'string' && { code: e.code }), ...(typeof e.message === 'string' && { message: e.message }) });
    current = e.cause;
  }
  return chain;
}

/** A failed request (no answer) as an AgentError. */
export function transportError(error: unknown, url: string, proxy: ProxySettings | undefined, signal?: AbortSignal): AgentError {
  if (error instanceof AgentError) return error;
  if (signal?.aborted) return new AgentError('ABORTED', 'stopped', undefined, false);
  const chain = causeChain(error);
  const messages = chain.map((c) => c.message ?? '').join(' / ');
  const code = chain.map((c) => c.code).find((c) => c !== undefined);
  if (proxy) {
    if (/\(407\)/.test(messages)) {
      return new AgentError('PROXY_AUTH', `the proxy ${proxyLabel(proxy)} refused the credentials (407 Proxy Authentication Required): check the user and password in proxy.conf`, 407);
    }
    const tunnel = /Proxy response \((\d+)\)/.exec(messages);
    if (tunnel) return new AgentError('NETWORK', `the proxy ${proxyLabel(proxy)} could not reach ${new URL(url).host} (it answered ${tunnel[1]})`, undefined, true);
    if (code && CONNECT_CODES.has(code)) {
      return new AgentError('PROXY_UNREACHABLE', `the proxy ${proxyLabel(proxy)} is unreachable (${code})`, undefined, true);
    }
  }
  const host = new URL(url).host;
  return new AgentError('NETWORK', `cannot reach ${host}: ${code ?? chain.at(-1)?.message ?? 'network error'}`, undefined, true);
}
