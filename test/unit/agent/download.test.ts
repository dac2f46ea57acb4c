/**
 * The agent's own download path (undici `request()`, the streaming file write, the
 * deferred fsync and move into the store) against a small HTTP server that misbehaves
 * on purpose: no injected fetch, so this is the code that runs in the field.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TargetFile } from '@tufjs/models';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentError } from '../../../agent/errors.ts';
import { HttpClient } from '../../../agent/http.ts';
import type { DownloadStats } from '../../../agent/download.ts';
import { downloadToStore } from '../../../agent/download.ts';
import { storePath } from '../../../agent/file-store.ts';

const body = randomBytes(3 * 1024 * 1024 + 123);
const sha256 = createHash('sha256').update(body).digest('hex');
const info = new TargetFile({ path: 'p/x.sig', length: body.length, hashes: { sha256 } });

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

/** Serves `content` with Range support. */
function serve(req: IncomingMessage, res: ServerResponse, content: Buffer): void {
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = range ? Number(range[1]) : 0;
  res.writeHead(range ? 206 : 200, { 'content-length': content.length - start, ...(range && { 'content-range': `bytes ${start}-${content.length - 1}/${content.length}` }) });
  res.end(content.subarray(start));
}

describe('downloadToStore over the network', () => {
  let dir: string;
  let server: Server;
  let handler: Handler;
  let requests: Array<{ range?: string }>;
  let url: string;
  const http = new HttpClient({ env: {}, backoff: { attempts: 3, baseMs: 10, capMs: 20 } });
  const fresh = (): DownloadStats => ({ files: 0, bytes: 0, resumed: 0 });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'signet-agent-download-'));
    requests = [];
    server = createServer((req, res) => {
      requests.push({ ...(req.headers.range && { range: req.headers.range }) });
      handler(req, res, requests.length);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  const source = (onRenew?: () => void) => ({
    url: async () => url,
    renew: async () => onRenew?.(),
  });

  it('resumes a body cut midway with Range, fetches each byte once, and stores the verified file read-only', async () => {
    const cutAt = 1024 * 1024;
    handler = (req, res, n) => {
      if (n > 1) return serve(req, res, body);
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, cutAt), () => setTimeout(() => res.destroy(), 50));
    };
    const stats = fresh();
    await downloadToStore(dir, http, source(), info, stats);
    expect((await readFile(storePath(dir, sha256))).equals(body)).toBe(true); // toEqual walks 3 MB byte by byte
    expect((await stat(storePath(dir, sha256))).mode & 0o777).toBe(0o444);
    expect(requests).toHaveLength(2);
    const kept = Number(/^bytes=(\d+)-$/.exec(requests[1]?.range ?? '')?.[1]);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(cutAt);
    expect(stats).toEqual({ files: 1, bytes: body.length, resumed: 1 });
    expect(await readdir(join(dir, 'store'))).toEqual([sha256]);
  });

  it('refuses content that does not match the signed hash, and keeps nothing of it', async () => {
    const tampered = Buffer.from(body);
    tampered[1000] = (tampered[1000] ?? 0) ^ 1;
    handler = (req, res) => serve(req, res, tampered);
    const error = (await downloadToStore(dir, http, source(), info, fresh()).catch((e: unknown) => e)) as AgentError;
    expect(error).toBeInstanceOf(AgentError);
    expect(error.code).toBe('VERIFICATION_FAILED');
    expect(await readdir(join(dir, 'store'))).toEqual([]);
  });

  it('stops reading a body longer than the signed length', async () => {
    handler = (req, res) => serve(req, res, Buffer.concat([body, Buffer.alloc(4096)]));
    const error = (await downloadToStore(dir, http, source(), info, fresh()).catch((e: unknown) => e)) as AgentError;
    expect(error.code).toBe('VERIFICATION_FAILED');
    expect(error.message).toMatch(/more than the \d+ bytes/);
    expect(await readdir(join(dir, 'store')).then((entries) => entries.filter((e) => !e.endsWith('.partial')))).toEqual([]);
  });

  it('asks for a fresh grant once on a 403, then downloads', async () => {
    let renewed = 0;
    handler = (req, res, n) => {
      if (n === 1) return void res.writeHead(403).end('expired');
      serve(req, res, body);
    };
    await downloadToStore(dir, http, source(() => renewed++), info, fresh());
    expect(renewed).toBe(1);
    expect((await readFile(storePath(dir, sha256))).equals(body)).toBe(true); // toEqual walks 3 MB byte by byte
  });

  it('asks for a fresh grant only once per file: a second 403 is the answer', async () => {
    let renewed = 0;
    handler = (_req, res) => void res.writeHead(403).end('expired');
    const error = (await downloadToStore(dir, http, source(() => renewed++), info, fresh()).catch((e: unknown) => e)) as AgentError;
    expect(error.code).toBe('HTTP_403');
    expect(renewed).toBe(1);
    expect(requests).toHaveLength(2);
  });

  /** A .partial as an earlier run left it: `content`'s first `size` bytes. */
  const leavePartial = async (content: Buffer, size: number) => {
    await mkdir(join(dir, 'store'), { recursive: true });
    await writeFile(`${storePath(dir, sha256)}.partial`, content.subarray(0, size));
  };

  /** Downloads; the file is stored whole, after these requests, and not counted as resumed. */
  const expectStartedOver = async (expectedRequests: Array<{ range?: string }>) => {
    const stats = fresh();
    await downloadToStore(dir, http, source(), info, stats);
    expect((await readFile(storePath(dir, sha256))).equals(body)).toBe(true);
    expect(requests).toEqual(expectedRequests);
    expect(stats).toEqual({ files: 1, bytes: body.length, resumed: 0 });
  };

  it('drops the partial on a 416 and starts over', async () => {
    await leavePartial(body, 1000);
    handler = (req, res) => (req.headers.range ? void res.writeHead(416).end() : serve(req, res, body));
    await expectStartedOver([{ range: 'bytes=1000-' }, {}]);
  });

  it('starts over when a 206 does not continue the partial', async () => {
    await leavePartial(body, 1000);
    handler = (req, res, n) => {
      if (n > 1) return serve(req, res, body);
      res.writeHead(206, { 'content-length': body.length, 'content-range': `bytes 0-${body.length - 1}/${body.length}` }).end(body);
    };
    await expectStartedOver([{ range: 'bytes=1000-' }, {}]);
  });

  it('starts over in the same request when the server ignores the range (200)', async () => {
    await leavePartial(randomBytes(1000), 1000);
    handler = (_req, res) => void res.writeHead(200, { 'content-length': body.length }).end(body);
    await expectStartedOver([{ range: 'bytes=1000-' }]);
  });

  it('fetches a resumed file whole once when it does not match (spliced from two contents), and refuses a second mismatch', async () => {
    const other = randomBytes(body.length);
    await leavePartial(other, 1000);
    handler = (req, res) => serve(req, res, body);
    const stats = fresh();
    await downloadToStore(dir, http, source(), info, stats);
    expect((await readFile(storePath(dir, sha256))).equals(body)).toBe(true);
    expect(requests).toEqual([{ range: 'bytes=1000-' }, {}]);
    expect(stats).toEqual({ files: 1, bytes: body.length - 1000 + body.length, resumed: 1 });

    await rm(join(dir, 'store'), { recursive: true, force: true });
    await leavePartial(other, 1000);
    requests = [];
    handler = (req, res) => serve(req, res, other);
    const error = (await downloadToStore(dir, http, source(), info, fresh()).catch((e: unknown) => e)) as AgentError;
    expect(error.code).toBe('VERIFICATION_FAILED');
    expect(requests).toEqual([{ range: 'bytes=1000-' }, {}]);
    expect(await readdir(join(dir, 'store'))).toEqual([]);
  });

  it('does not retry a disk error as if it were the network', async () => {
    handler = (req, res) => serve(req, res, body);
    await mkdir(`${storePath(dir, sha256)}.partial`, { recursive: true }); // the partial cannot be written
    const error = (await downloadToStore(dir, http, source(), info, fresh()).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(error).not.toBeInstanceOf(AgentError);
    expect(error.code).toBe('EISDIR');
    expect(requests).toHaveLength(1);
  });

  it('retries a 503 and gives up with the server answer after the last attempt', async () => {
    handler = (_req, res) => void res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'busy' } }));
    const error = (await downloadToStore(dir, http, source(), info, fresh()).catch((e: unknown) => e)) as AgentError;
    expect(error.code).toBe('UNAVAILABLE');
    expect(requests).toHaveLength(3);
  });
});
