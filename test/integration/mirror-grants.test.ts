/**
 * A site mirror's download grants open one product's targets on the host the agent
 * reached the mirror by, and nothing else. The hostile probe: the mirror issued
 * `*` + `/targets/<product>/*`, and the leading `*` also matched a query string, so
 * `/targets/B/...?x=/targets/A/&<grant for A>` answered 200. Through a real mirror,
 * synced from the shared local stack, holding two products.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startMirror } from '../../mirror/index.ts';
import type { MirrorOptions, RunningMirror } from '../../mirror/index.ts';
import { readServed } from '../../mirror/state.ts';
import { decodeCloudFrontBase64 } from '#lib/cdn/cloudfront-base64.ts';
import { publishVersion } from '#test/support/delivery.ts';
import { createTestLicense, registrationFor } from '#test/support/licensing.ts';
import { rawRequest } from '#test/support/raw-http.ts';

const stack = inject('stack');
const root = join(stack.dataDir, 'root.json');
const run = Date.now().toString(36);
const productA = `mgrant-${run}-a`;
const productB = `mgrant-${run}-b`;
const started: RunningMirror[] = [];
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'signet-mirror-grants-'));
  dirs.push(dir);
  return dir;
}

interface Answer {
  readonly status: number;
  readonly body: string;
}

/** One request to `base` (the mirror's URL) with the Host header `host`, which fetch would not let us choose. */
function call(base: string, path: string, options: { host?: string; method?: string; body?: unknown; token?: string } = {}): Promise<Answer> {
  const url = new URL(base);
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers: Record<string, string> = {
    host: options.host ?? url.host,
    ...(body !== undefined && { 'content-type': 'application/json' }),
    ...(options.token && { authorization: `Bearer ${options.token}` }),
  };
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      { hostname: url.hostname, port: url.port, path, method: options.method ?? (body === undefined ? 'GET' : 'POST'), headers, rejectUnauthorized: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** An agent of product A at the mirror, reached as `host`: its grant for A. */
async function grantFor(base: string, product: string, host?: string): Promise<{ query: string; targetsUrl: string }> {
  const registered = await call(base, '/v1/agents', { host, body: registrationFor(licenseKey, { product, machineId: `m-${randomUUID()}` }) });
  expect([200, 201], registered.body).toContain(registered.status);
  const token = String((JSON.parse(registered.body) as { token: string }).token);
  const manifest = await call(base, '/v1/manifest', { host, body: { product, channel: 'stable' }, token });
  expect(manifest.status, manifest.body).toBe(200);
  const parsed = JSON.parse(manifest.body) as { download: { query: string }; targetsUrl: string };
  return { query: parsed.download.query, targetsUrl: parsed.targetsUrl };
}

async function targetOf(dir: string, product: string): Promise<string> {
  const name = Object.keys((await readServed(dir))?.targets ?? {}).find((n) => n.startsWith(`${product}/`) && n.endsWith('.main.sig'));
  if (name === undefined) throw new Error(`the mirror holds no ${product} target`);
  return `/targets/${name}`;
}

async function mirror(options: Partial<MirrorOptions> = {}): Promise<RunningMirror & { dir: string }> {
  const dir = await tempDir();
  const running = await startMirror({ dir, port: 0, host: '127.0.0.1', root, pollSeconds: 86_400, env: {}, upstream: stack.baseUrl, licenseKey, seats: 10, ...options });
  started.push(running);
  return Object.assign(running, { dir });
}

let licenseKey: string;

beforeAll(async () => {
  await publishVersion(productA, '1.0.0', { 'main.sig': 'a one\n' }, ['--channel', 'stable']);
  await publishVersion(productB, '1.0.0', { 'main.sig': 'b one\n' }, ['--channel', 'stable']);
  // The site's license covers both products; each agent's grant is for the product it asks about.
  licenseKey = (await createTestLicense({ products: [productA, productB], seats: 20, expires: new Date(Date.now() + 30 * 86_400_000).toISOString() })).licenseKey;
});

afterAll(async () => {
  for (const m of started) await m.stop().catch(() => undefined);
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe("a mirror's grant for product A", () => {
  let site: RunningMirror & { dir: string };
  let targetA: string;
  let targetB: string;

  beforeAll(async () => {
    site = await mirror();
    targetA = await targetOf(site.dir, productA);
    targetB = await targetOf(site.dir, productB);
  });

  it("opens A's targets, and not B's, not even with A's path in the query string (the probe)", async () => {
    const { query } = await grantFor(site.url, productA);
    expect((await call(site.url, `${targetA}?${query}`)).status).toBe(200);
    expect((await call(site.url, `${targetA}?${query}`)).body).toBe('a one\n');
    for (const path of [
      `${targetB}?${query}`,
      `${targetB}?x=/targets/${productA}/&${query}`,
      `${targetB}?x=${site.url}/targets/${productA}/&${query}`,
      `${targetB}?${query}&x=/targets/${productA}/`,
    ]) {
      const answer = await call(site.url, path);
      expect(answer.status, path).toBe(403);
      expect(answer.body, path).not.toContain('b one');
    }
    // B's own grant still opens B: the refusal is the grant's product, not the file.
    expect((await call(site.url, `${targetB}?${(await grantFor(site.url, productB)).query}`)).status).toBe(200);
  });

  it('does not reach B through dot segments, plain or encoded (the path guard runs before the check)', async () => {
    const { query } = await grantFor(site.url, productA);
    const b = targetB.slice(`/targets/${productB}/`.length);
    for (const path of [`/targets/${productA}/../${productB}/${b}`, `/targets/${productA}/%2e%2e/${productB}/${b}`, `/targets/${productA}/..%2f${productB}/${b}`, `/targets/${productA}/%2E%2E%2F${productB}/${b}`]) {
      const answer = await rawRequest(site.url, `${path}?${query}`);
      expect(answer.status, path).toBe(400);
      expect(answer.body.toString(), path).not.toContain('b one');
    }
  });

  it('is a grant for the host the agent reached the mirror by: refused on another Host', async () => {
    const port = new URL(site.url).port;
    const other = `mirror-${run}.site.test:${port}`;
    const onOther = await grantFor(site.url, productA, other);
    expect(onOther.targetsUrl).toBe(`http://${other}/targets/`);
    expect((await call(site.url, `${targetA}?${onOther.query}`, { host: other })).status).toBe(200);
    expect((await call(site.url, `${targetA}?${onOther.query}`)).status).toBe(403);
    const onThis = await grantFor(site.url, productA);
    expect((await call(site.url, `${targetA}?${onThis.query}`, { host: other })).status).toBe(403);
    // The Host is compared as the URL has it: case and a default port change nothing.
    expect((await call(site.url, `${targetA}?${onOther.query}`, { host: other.toUpperCase() })).status).toBe(200);
  });

  it('answers 400 to a Host header that is not a host, so no wildcard reaches a grant', async () => {
    for (const host of ['*', `*:${new URL(site.url).port}`, 'a/targets', 'a?b', 'evil*.site.test']) {
      const answer = await call(site.url, '/v1/manifest', { host, body: { product: productA, channel: 'stable' }, token: 'x' });
      expect(answer.status, host).toBe(400);
      expect(JSON.parse(answer.body), host).toMatchObject({ error: { code: 'INVALID_REQUEST' } });
    }
  });
});

// TLS needs a certificate: made here with the openssl CLI, where there is one.
const openssl = spawnSync('openssl', ['version']).status === 0;

describe.skipIf(!openssl)('a mirror serving HTTPS', () => {
  it("opens A's targets with A's grant over TLS, and not B's", async () => {
    const dir = await tempDir();
    const [keyFile, certFile] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', keyFile, '-out', certFile], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const site = await mirror({ tls: { cert: await readFile(certFile), key: await readFile(keyFile) } });
    expect(site.url).toMatch(/^https:/);
    const { query, targetsUrl } = await grantFor(site.url, productA);
    expect(targetsUrl).toBe(`${site.url}/targets/`);
    // The grant names the scheme the mirror listens on, as the origin checks it.
    const policy = JSON.parse(decodeCloudFrontBase64(new URLSearchParams(query).get('Policy') ?? '')?.toString('utf8') ?? '') as { Statement: Array<{ Resource: string }> };
    expect(policy.Statement[0]?.Resource).toBe(`${site.url}/targets/${productA}/*`);
    const targetA = await targetOf(site.dir, productA);
    const targetB = await targetOf(site.dir, productB);
    expect((await call(site.url, `${targetA}?${query}`)).status).toBe(200);
    expect((await call(site.url, `${targetB}?x=/targets/${productA}/&${query}`)).status).toBe(403);
  });
});
