/**
 * tuf-js's fetcher over the agent's HTTP client, so TUF's own requests take the same
 * proxy, timeouts and retries as everything else. Target URLs (under the manifest's
 * `targetsUrl`) get the download grant's query appended; metadata URLs go as they are.
 * A 403/404 is handed to tuf-js as its DownloadHTTPError: that is how it learns that no
 * newer root exists.
 */
import { BaseFetcher } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import type { HttpClient } from './http.ts';
import { answerError } from './http.ts';

export interface GrantSource {
  readonly targetsUrl: string;
  /** The current grant query (no `?`). */
  query(): Promise<string>;
}

export function withQuery(url: string, query: string): string {
  return query ? `${url}${url.includes('?') ? '&' : '?'}${query}` : url;
}

export class AgentFetcher extends BaseFetcher {
  constructor(
    private readonly http: HttpClient,
    private readonly grant: GrantSource,
    /** When given, every metadata file fetched, by URL, as received (a mirror serves them on byte for byte). */
    private readonly record?: Map<string, Buffer>,
  ) {
    super();
  }

  override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    return this.http.retrying(url, async () => {
      const isTarget = url.startsWith(this.grant.targetsUrl);
      const full = isTarget ? withQuery(url, await this.grant.query()) : url;
      const response = await this.http.send(full);
      if (response.ok && response.body && this.record && !isTarget) {
        const bytes = Buffer.from(await response.arrayBuffer());
        this.record.set(url, bytes);
        return new Blob([bytes]).stream() as unknown as ReadableStream<Uint8Array<ArrayBuffer>>;
      }
      if (response.ok && response.body) return response.body as unknown as ReadableStream<Uint8Array<ArrayBuffer>>;
      const text = await response.text().catch(() => '');
      const error = answerError(response, text, url);
      if (error.retryable || error.code === 'PROXY_AUTH') throw error;
      throw new DownloadHTTPError(`${new URL(url).pathname}: ${response.status}`, response.status);
    });
  }
}
