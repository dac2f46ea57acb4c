/** Arrange helpers for the delivery tests: publishing through the real CLI, agents, manifests and reports over HTTP. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mapLimit } from '#lib/concurrency.ts';
import type { Channel } from '#lib/releases/store.ts';
import type { Manifest } from '#lib/delivery/manifest.ts';
import { runSignet } from './cli.ts';
import { admin, createTestLicense, register, registrationFor, stackInfo } from './licensing.ts';

/** Publishes `files` as product/version with the real `signet publish`, against the shared stack. */
export async function publishVersion(product: string, version: string, files: Record<string, string>, extra: string[] = []): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'signet-pub-'));
  try {
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
    const result = await runSignet(['publish', '--product', product, '--version', version, '--dir', dir, '--data-dir', stackInfo().dataDir, '--json', ...extra]);
    if (result.code !== 0) throw new Error(`publish ${product} ${version} failed: ${result.stderr}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function promoteTo(product: string, channel: string, version: string, percent: number) {
  return (await admin()).call<{ channel: Channel }>('POST', `/v1/admin/channels/${product}/${channel}/promote`, { version, percent });
}

export async function haltChannel(product: string, channel: string) {
  return (await admin()).call<{ channel: Channel }>('POST', `/v1/admin/channels/${product}/${channel}/halt`);
}

export async function agentFor(licenseKey: string, product: string, machineId?: string): Promise<{ agentId: string; token: string }> {
  const result = await register(registrationFor(licenseKey, { product, ...(machineId && { machineId }) }));
  if (result.status !== 201 && result.status !== 200) throw new Error(`registration failed: ${JSON.stringify(result.body)}`);
  return { agentId: String(result.body.agentId), token: String(result.body.token) };
}

export async function licensedAgent(product: string, seats = 5) {
  const { licenseKey, license } = await createTestLicense({ products: [product], seats });
  return { licenseKey, license, ...(await agentFor(licenseKey, product)) };
}

export type ManifestBody = Manifest;

export async function manifest(token: string, body: Record<string, unknown>): Promise<{ status: number; body: ManifestBody & { error?: { code: string; message: string } } }> {
  const response = await fetch(`${stackInfo().baseUrl}/v1/manifest`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as ManifestBody & { error?: { code: string; message: string } } };
}

export async function report(token: string, body: Record<string, unknown>): Promise<number> {
  const response = await fetch(`${stackInfo().baseUrl}/v1/reports`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await response.arrayBuffer();
  return response.status;
}

/** A report sent as an agent sends it: again after a 429 or 503, waiting as Retry-After says (up to 20 tries). */
export async function reportAsAgent(token: string, body: Record<string, unknown>): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(`${stackInfo().baseUrl}/v1/reports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    await response.arrayBuffer();
    if ((response.status !== 429 && response.status !== 503) || attempt >= 19) return response.status;
    const wait = Number(response.headers.get('retry-after') ?? '1');
    await new Promise((resolve) => setTimeout(resolve, Math.min(wait, 2) * 1000 * (0.5 + Math.random())));
  }
}

/** Runs `work` over `items`, `limit` at a time. */
export const pool = mapLimit;
