/**
 * The local origin under a hostile client: the findings of a black-box probe, each as a
 * regression test through the real stack (the path guard, grants, ranges, stalled
 * readers, broken requests, client disconnects), and a property test over generated paths.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cacheControlFor } from '#lib/definitions/bucket.ts';
import { guardObjectPath } from '#lib/cdn/viewer-request.ts';
import { localS3Client } from '#local/s3-local.ts';
import { GrantIssuer, pemPolicySigner } from '#lib/delivery/grant.ts';
import { readLocalCdnKey } from '#lib/cdn/key-files.ts';
import { pathTable } from '#test/support/hostile-paths.ts';
import type { RawResponse } from '#test/support/raw-http.ts';
import { rawExchange, rawRequest } from '#test/support/raw-http.ts';
import { OBJECT_IDLE_TIMEOUT_MS } from './global-setup.ts';

const { baseUrl, dataDir, s3Endpoint, bucket, logPath } = inject('stack');
const s3 = localS3Client(s3Endpoint);

const small = Buffer.from('abcdef');
const demoFile = randomBytes(64 * 1024);
const otherFile = Buffer.from('other product, other customer');
const large = randomBytes(8 * 1024 * 1024);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const keys = {
  small: `targets/demo-av/${sha(small)}.six.bin`,
  demo: `targets/demo-av/${sha(demoFile)}.main.sig`,
  other: `targets/other-av/${sha(otherFile)}.small.txt`,
  large: `targets/demo-av/${sha(large)}.large.bin`,
};
/**
 * A demo-av download grant (`Policy=...&Signature=...&Key-Pair-Id=...`, a wildcard over
 * /targets/demo-av/*), made by the manifest's own GrantIssuer with the stack's CDN key; ten
 * minutes long, because the stack's manifest grants last 8 s for the expiry tests.
 */
let grant: string;

async function put(key: string, body: Buffer): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, CacheControl: cacheControlFor(key), ContentType: 'application/octet-stream' }));
}

/** The object stored at `key`, or undefined. */
async function stored(key: string): Promise<Buffer | undefined> {
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await (object.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array())));
  } catch {
    return undefined;
  }
}

function errorCode(response: RawResponse): string | undefined {
  try {
    return (JSON.parse(response.body.toString('utf8')) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

beforeAll(async () => {
  await Promise.all(Object.entries(keys).map(([name, key]) => put(key, { small, demo: demoFile, other: otherFile, large }[name as keyof typeof keys])));
  const key = await readLocalCdnKey(dataDir);
  const issuer = new GrantIssuer(pemPolicySigner(key.keyPairId, key.privateKeyPem), { baseUrl, lifetimeSeconds: 600, renewBeforeSeconds: 0 });
  grant = (await issuer.grant('demo-av', new Date())).query;
});

afterAll(() => s3.destroy());

describe('paths that leave their space or the grant (the probe\'s critical and high findings)', () => {
  it('serves no target through /metadata/ with an encoded dot-dot, in any spelling, with GET, HEAD or Range', async () => {
    for (const escape of ['%2e%2e/', '..%2f', '%2e%2e%2f', '%2E%2E/', '.%2e/', '%2e./']) {
      const path = `/metadata/${escape}${keys.demo}`;
      for (const request of [{}, { method: 'HEAD' }, { headers: { range: 'bytes=0-99' } }]) {
        const response = await rawRequest(baseUrl, path, request);
        expect(response.status, `${request.method ?? 'GET'} ${path}`).toBe(400);
        expect(response.body.includes(demoFile.subarray(0, 32))).toBe(false);
      }
    }
  });

  it('serves nothing outside the bucket\'s published prefixes', async () => {
    const response = await rawRequest(baseUrl, `/metadata/%2e%2e%2f%2e%2e%2f${bucket}%2f${keys.demo}`);
    expect(response.status).toBe(400);
    expect(errorCode(response)).toBe('INVALID_REQUEST');
  });

  it('refuses a demo-av grant for another product\'s file reached through ..%2f, as it refuses the plain path', async () => {
    const otherName = keys.other.split('/').pop() ?? '';
    expect((await rawRequest(baseUrl, `/targets/demo-av/..%2fother-av/${otherName}?${grant}`)).status).toBe(400);
    expect((await rawRequest(baseUrl, `/targets/demo-av/%2e%2e/other-av/${otherName}?${grant}`)).status).toBe(400);
    expect((await rawRequest(baseUrl, `/${keys.other}?${grant}`)).status).toBe(403);
    // and the grant does work where it should
    const own = await rawRequest(baseUrl, `/${keys.demo}?${grant}`);
    expect(own.status).toBe(200);
    expect(own.body.equals(demoFile)).toBe(true);
  });

  it('answers every path of the guard\'s table as the CloudFront Function does, with a JSON error body for each refusal', async () => {
    for (const [path, expected] of pathTable) {
      if (/[\s\u0080-\uffff]/.test(path)) continue; // not sendable as an HTTP/1.1 request line
      const response = await rawRequest(baseUrl, path);
      if (expected === 'pass') {
        expect([200, 403, 404], path).toContain(response.status); // the guard let it through; the rest is the object's business
      } else {
        expect(response.status, path).toBe(expected);
        expect(errorCode(response), path).toBe(expected === 400 ? 'INVALID_REQUEST' : 'NOT_FOUND');
      }
    }
  });
});

describe('a missing object (the probe saw 503 for some)', () => {
  it('answers 404 NOT_FOUND without Retry-After for a name too long to exist, and 400 for an encoded NUL', async () => {
    const long = await rawRequest(baseUrl, `/metadata/${'a'.repeat(241)}`);
    expect(long.status).toBe(404);
    expect(errorCode(long)).toBe('NOT_FOUND');
    expect(long.headers['retry-after']).toBeUndefined();
    const nul = await rawRequest(baseUrl, '/metadata/timestamp.json%00');
    expect(nul.status).toBe(400);
    expect(nul.headers['retry-after']).toBeUndefined();
  });

  it('answers 404 for the longest name the guard lets through when nothing is stored there', async () => {
    const response = await rawRequest(baseUrl, `/metadata/${'b'.repeat(200)}`);
    expect(response.status).toBe(404);
    expect(errorCode(response)).toBe('NOT_FOUND');
  });
});

describe('byte ranges (RFC 9110), on a stored 6-byte target', () => {
  const get = (headers: Record<string, string>) => rawRequest(baseUrl, `/${keys.small}?${grant}`, { headers });

  it('answers a suffix range with the last bytes', async () => {
    const response = await get({ range: 'bytes=-3' });
    expect(response.status).toBe(206);
    expect(response.headers['content-range']).toBe('bytes 3-5/6');
    expect(response.body.toString()).toBe('def');
  });

  it('ignores an invalid range and sends the whole object', async () => {
    for (const range of ['bytes=10-0', 'bytes=5', 'bytes=abc', 'bytes=0-0,2-3']) {
      const response = await get({ range });
      expect(response.status, range).toBe(200);
      expect(response.body.toString(), range).toBe('abcdef');
    }
  });

  it('answers an unsatisfiable range with 416 and the size in Content-Range', async () => {
    for (const range of ['bytes=-0', 'bytes=6-']) {
      const response = await get({ range });
      expect(response.status, range).toBe(416);
      expect(response.headers['content-range'], range).toBe('bytes */6');
      expect(errorCode(response), range).toBe('RANGE_NOT_SATISFIABLE');
    }
  });

  it('sends the whole object when If-Range does not match, the part when it does', async () => {
    const head = await rawRequest(baseUrl, `/${keys.small}?${grant}`, { method: 'HEAD' });
    const etag = head.headers.etag ?? '';
    expect((await get({ range: 'bytes=0-1', 'if-range': '"stale"' })).status).toBe(200);
    const part = await get({ range: 'bytes=0-1', 'if-range': etag });
    expect(part.status).toBe(206);
    expect(part.body.toString()).toBe('ab');
  });
});

describe('/v1 errors Node would answer with an empty body', () => {
  const errorBody = (response: RawResponse) => JSON.parse(response.body.toString()) as { error: { code: string; message: string } };

  it('answers a 20 KB Authorization header with 431 and a JSON error', async () => {
    const response = await rawRequest(baseUrl, '/v1/health', { headers: { authorization: `Bearer ${'a'.repeat(20_000)}` } });
    expect(response.status).toBe(431);
    expect(errorBody(response).error.code).toBe('HEADERS_TOO_LARGE');
  });

  it('answers a malformed header line, a bad chunk and a missing Host with 400 INVALID_REQUEST', async () => {
    const { host } = new URL(baseUrl);
    const malformed = await rawExchange(baseUrl, `GET /v1/health HTTP/1.1\r\nHost: ${host}\r\nBad Header\r\n\r\n`);
    const badChunk = await rawExchange(baseUrl, `POST /v1/agents HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`, 'zz\r\n{}\r\n0\r\n\r\n');
    const noHost = await rawExchange(baseUrl, 'GET /v1/health HTTP/1.1\r\nConnection: close\r\n\r\n');
    for (const response of [malformed, badChunk, noHost]) {
      expect(response.status).toBe(400);
      expect(response.headers['content-type']).toBe('application/json');
      expect(errorBody(response).error.code).toBe('INVALID_REQUEST');
    }
  });

  it('answers a Host header that is not a host name and port with 400, on /v1 and on objects alike', async () => {
    for (const host of ['[::1', 'a b', 'x/y', 'user@host', 'h:99999']) {
      for (const path of ['/v1/admin/audit', `/${keys.demo}?${grant}`]) {
        const response = await rawRequest(baseUrl, path, { headers: { host } });
        expect(response.status, `${host} ${path}`).toBe(400);
        expect(errorBody(response).error.code).toBe('INVALID_REQUEST');
      }
    }
  });

  it('answers a wrong method on /v1 with 405, an Allow header and a JSON error', async () => {
    const response = await rawRequest(baseUrl, '/v1/health', { method: 'DELETE' });
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('GET');
    expect(errorBody(response).error.code).toBe('METHOD_NOT_ALLOWED');
  });
});

describe('clients that go away', () => {
  it('logs a download the client abandons as the client going away, not as an origin error with a stack', async () => {
    const controller = new AbortController();
    const response = await fetch(`${baseUrl}/${keys.large}?${grant}`, { signal: controller.signal });
    const reader = response.body?.getReader();
    await reader?.read();
    controller.abort();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const log = await readFile(logPath, 'utf8');
    const lines = log.split('\n').filter((line) => line.includes(keys.large));
    expect(lines.some((line) => line.includes('went away'))).toBe(true);
    expect(log).not.toMatch(/Premature close|origin error|^\s+at /m);
  });
});

describe('readers that never read', () => {
  it('keeps answering other clients within a second while 200 connections stall on a large target, and closes the stalled ones after the idle timeout', async () => {
    const script = fileURLToPath(new URL('../support/stalled-readers.py', import.meta.url));
    const { hostname, port, host } = new URL(baseUrl);
    const readers = spawn('python3', [script, hostname, port, `/${keys.large}?${grant}`, host, '200']);
    const lines = createInterface({ input: readers.stdout })[Symbol.asyncIterator]();
    try {
      expect((await lines.next()).value).toBe('ready');
      const stalledAt = Date.now();
      /** One metadata read and one signed target download, as another agent would make them; milliseconds. */
      const otherClient = async () => {
        const started = Date.now();
        const metadata = await fetch(`${baseUrl}/metadata/timestamp.json`, { signal: AbortSignal.timeout(20_000) });
        await metadata.arrayBuffer();
        const target = await fetch(`${baseUrl}/${keys.demo}?${grant}`, { signal: AbortSignal.timeout(20_000) });
        const body = Buffer.from(await target.arrayBuffer());
        expect([metadata.status, target.status], body.subarray(0, 200).toString()).toEqual([200, 200]);
        expect(body.equals(demoFile)).toBe(true);
        return Date.now() - started;
      };
      // Starting 200 reads costs the origin a second or two after the last one began (each
      // fills its loopback buffers to S3 before it stalls: rounds take 900, 600, 200 ms,
      // then 10-60 ms). Once that is done, nothing the stalled readers hold may delay
      // anyone. (With the SDK's pool of 50 sockets nobody was answered until they left.)
      while ((await otherClient()) >= 250) {
        expect(Date.now() - stalledAt, 'the origin never became quick again').toBeLessThan(OBJECT_IDLE_TIMEOUT_MS / 2);
      }
      for (let i = 0; i < 5; i++) expect(await otherClient()).toBeLessThan(1_000);
      expect(Date.now() - stalledAt).toBeLessThan(OBJECT_IDLE_TIMEOUT_MS); // all of it while the readers still stalled
      // The last of the 200 stalled when the warm-up above ended: give each its idle timeout from there.
      await new Promise((resolve) => setTimeout(resolve, OBJECT_IDLE_TIMEOUT_MS + 2_000));
      readers.stdin.write('check\n');
      const verdict = JSON.parse(String((await lines.next()).value)) as { closed: number; maxBytes: number };
      expect(verdict.closed).toBe(200);
      expect(verdict.maxBytes).toBeLessThan(large.length);
    } finally {
      readers.kill();
    }
  });
});

describe('generated hostile paths (property)', () => {
  const segment = fc.oneof(
    fc.constantFrom('.', '..', '', '%2e', '%2E%2e', '%2f', '%2F', '%5c', '\\', '%00', '%25', '%252e%252e', '%252f', '%c0%ae', 'demo-av', 'other-av', 'metadata', 'targets', bucket),
    fc.constantFrom(...Object.values(keys).map((k) => k.split('/').pop() ?? ''), 'timestamp.json', '1.root.json'),
    fc.stringMatching(/^[A-Za-z0-9._%-]{1,12}$/),
  );
  const hostilePath = fc
    .tuple(fc.constantFrom('/metadata/', '/targets/', '/targets/demo-av/', '/'), fc.array(segment, { minLength: 1, maxLength: 5 }), fc.constantFrom('/', '%2f', '%2F', '\\', '/./', '/../'), fc.boolean())
    .map(([prefix, segments, separator, signed]) => `${prefix}${segments.join(separator)}${signed ? `?${grant}` : ''}`);

  it('never answers 5xx, never serves a target outside the grant, never a body that is not the stored object at the canonical path', async () => {
    await fc.assert(
      fc.asyncProperty(hostilePath, async (path) => {
        const response = await rawRequest(baseUrl, path);
        expect(response.status, path).toBeLessThan(500);
        if (response.status !== 200 && response.status !== 206) return;
        const verdict = guardObjectPath(path.split('?')[0] ?? '');
        expect(verdict.ok, path).toBe(true);
        if (!verdict.ok) return;
        expect(verdict.path.startsWith('/metadata/') || verdict.path.startsWith('/targets/demo-av/'), path).toBe(true);
        expect(response.body.equals((await stored(verdict.path.slice(1))) ?? Buffer.alloc(0)), path).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
