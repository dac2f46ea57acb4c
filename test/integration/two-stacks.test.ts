/**
 * Two local stacks in one process: each built from its own services (clients, keys,
 * settings), none through process.env, so neither serves with the other's.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consistentName } from '#lib/releases/set-manifest.ts';
import type { LocalStack } from '#local/stack.ts';
import { startLocalStack } from '#local/stack.ts';
import { readDemoFile } from '#local/demo.ts';

let work: string;
let a: LocalStack;
let b: LocalStack;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'signet-two-'));
  // In parallel, as a test harness would: nothing either start does may reach the other.
  [a, b] = await Promise.all([
    startLocalStack({ port: 0, host: '127.0.0.1', dataDir: join(work, 'a'), fresh: false, runtime: { pollSeconds: 111 } }),
    startLocalStack({ port: 0, host: '127.0.0.1', dataDir: join(work, 'b'), fresh: false, runtime: { pollSeconds: 222 } }),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await rm(work, { recursive: true, force: true });
});

async function register(stack: LocalStack, licenseKey: string) {
  const response = await fetch(`${stack.baseUrl}/v1/agents`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ licenseKey, machineId: 'pc-1', product: 'demo-av', os: 'linux', arch: 'x64' }),
  });
  return { status: response.status, body: (await response.json()) as { token?: string; pollSeconds?: number; error?: { code: string } } };
}

describe('two local stacks in one process', () => {
  it('each answers on its own port from its own data', async () => {
    expect(a.baseUrl).not.toBe(b.baseUrl);
    for (const stack of [a, b]) expect((await fetch(`${stack.baseUrl}/v1/health`)).status).toBe(200);
    for (const stack of [a, b]) {
      const served = Buffer.from(await (await fetch(`${stack.baseUrl}/metadata/1.root.json`)).arrayBuffer());
      expect(served.equals(await readFile(join(stack.dataDir, 'root.json')))).toBe(true);
    }
  });

  it('keeps licenses apart, and each uses its own runtime settings', async () => {
    const keyA = (await readDemoFile(a.dataDir))?.licenseKey ?? '';
    const keyB = (await readDemoFile(b.dataDir))?.licenseKey ?? '';
    expect(keyA).not.toBe(keyB);
    expect(await register(a, keyA)).toMatchObject({ status: 201, body: { pollSeconds: 111 } });
    expect(await register(b, keyB)).toMatchObject({ status: 201, body: { pollSeconds: 222 } });
    expect(await register(b, keyA)).toMatchObject({ status: 401, body: { error: { code: 'LICENSE_INVALID' } } });
  });

  it('signs each stack\'s grants for itself: a grant of one opens nothing on the other', async () => {
    const keyB = (await readDemoFile(b.dataDir))?.licenseKey ?? '';
    const { body } = await register(b, keyB);
    const manifest = (await (
      await fetch(`${b.baseUrl}/v1/manifest`, { method: 'POST', headers: { authorization: `Bearer ${body.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ product: 'demo-av' }) })
    ).json()) as { setManifest: string; download: { query: string } };
    // The set manifest's path is `<product>/<sha256>/set-<version>.json`, served at `<product>/<sha256>/<sha256>.set-...`.
    const sha = manifest.setManifest.split('/')[1] ?? '';
    const path = `/targets/${consistentName(manifest.setManifest, sha)}?${manifest.download.query}`;
    expect((await fetch(`${b.baseUrl}${path}`)).status).toBe(200);
    // The same set (same content, same path) is published on both; B's grant names B and is signed with B's key.
    expect((await fetch(`${a.baseUrl}${path}`)).status).toBe(403);
  });
});
