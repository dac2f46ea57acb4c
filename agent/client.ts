/**
 * What every call of the agent shares: its options, and the HTTP client they make (with
 * the proxy of proxy.conf, step 8 of docs/agent-protocol.md).
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { AgentError } from './errors.ts';
import type { HttpOptions } from './http.ts';
import { HttpClient } from './http.ts';
import type { ProxySettings } from './proxy.ts';
import { parseProxyConf } from './proxy.ts';
import type { AgentState } from './state.ts';

export const AGENT_VERSION = '0.1.0';

/** Options every call takes. */
export interface AgentOptions {
  /** The install directory: state, trusted root, TUF metadata, store and installed sets. */
  readonly dir: string;
  /** HTTP settings (backoff, timeouts, a fetch replacement, an abort signal, environment for proxies). */
  readonly http?: Omit<HttpOptions, 'proxy'>;
  /** A proxy.conf path for this call, overriding the one kept in the state. */
  readonly proxyConf?: string;
  /** Progress: bytes received for the files of an update. */
  readonly onProgress?: (progress: { files: number; totalFiles: number; bytes: number; totalBytes: number }) => void;
  /** One-line notes (retries, re-registration), for a log. */
  readonly log?: (line: string) => void;
}

export const trimSlash = (url: string) => url.replace(/\/+$/, '');

export async function loadProxy(path: string | undefined): Promise<ProxySettings | undefined> {
  if (!path) return undefined;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new AgentError('PROXY_CONF', `cannot read the proxy configuration ${path}`);
  }
  try {
    return parseProxyConf(text);
  } catch (error) {
    throw new AgentError('PROXY_CONF', `${path}: ${(error as Error).message}`);
  }
}

export async function clientFor(state: Pick<AgentState, 'proxyConf'>, options: AgentOptions): Promise<HttpClient> {
  const proxy = await loadProxy(options.proxyConf ? resolve(options.proxyConf) : state.proxyConf);
  return new HttpClient({
    ...options.http,
    ...(proxy && { proxy }),
    userAgent: `signet-agent/${AGENT_VERSION}`,
    onRetry: (info) => {
      options.log?.(`retrying in ${(info.delayMs / 1000).toFixed(1)} s (attempt ${info.attempt + 1}): ${info.error.message}`);
      options.http?.onRetry?.(info);
    },
  });
}
