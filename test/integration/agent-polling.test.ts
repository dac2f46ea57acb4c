/**
 * What an agent's poll costs: it decides "something new" from the snapshot version a
 * trusted timestamp names. The hourly re-sign moves no snapshot, so it costs no manifest
 * request; a release, a wave widened and a halt each move it, so an agent learns of them
 * at its next poll without calling the API in between. Manifest requests are counted in
 * the origin's own log, as a CDN access log would count them.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { register, update } from '../../agent/index.ts';
import { refreshTimestamp } from '#lib/releases/repository.ts';
import { haltChannel, promoteTo, publishVersion } from '#test/support/delivery.ts';
import { createTestLicense } from '#test/support/licensing.ts';
import { stackRepositoryDeps } from '#test/support/tuf-client.ts';

const stack = inject('stack');
const product = `poll-${Date.now().toString(36)}-av`;
let dir: string;
let deps: Awaited<ReturnType<typeof stackRepositoryDeps>>;

/** Manifest requests the origin has answered so far (its log has one line per request). */
async function manifestRequests(): Promise<number> {
  return (await readFile(stack.logPath, 'utf8')).split('\n').filter((line) => / POST \/v1\/manifest \d{3} /.test(line)).length;
}

async function snapshotVersion(): Promise<number> {
  const timestamp = (await (await fetch(`${stack.baseUrl}/metadata/timestamp.json`)).json()) as { signed: { version: number; meta: Record<string, { version: number }> } };
  return timestamp.signed.meta['snapshot.json']?.version ?? 0;
}

const agentUpdate = () => update({ dir, http: { env: {} } });

beforeAll(async () => {
  deps = await stackRepositoryDeps(stack);
  dir = await mkdtemp(join(tmpdir(), 'signet-poll-'));
  await publishVersion(product, '1.0.0', { 'main.sig': 'v1\n' }, ['--channel', 'stable']);
  const { licenseKey } = await createTestLicense({ products: [product] });
  await register({ dir, server: stack.baseUrl, licenseKey, product, root: join(stack.dataDir, 'root.json'), http: { env: {} } });
  expect(await agentUpdate()).toMatchObject({ result: 'installed', version: '1.0.0' });
});

afterAll(async () => {
  deps?.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('an agent polling timestamp.json', () => {
  it('makes no manifest request across several timestamp re-signs with nothing released', async () => {
    const before = await manifestRequests();
    const snapshot = await snapshotVersion();
    for (let i = 0; i < 3; i++) {
      await refreshTimestamp(deps);
      expect(await agentUpdate()).toEqual({ result: 'up-to-date', version: '1.0.0', manifestRequested: false });
    }
    expect(await snapshotVersion()).toBe(snapshot);
    expect(await manifestRequests()).toBe(before);
  });

  it('asks once after a release published without moving the channel, and installs it at the poll after the promote to 100%', async () => {
    await publishVersion(product, '1.1.0', { 'main.sig': 'v1.1\n' });
    const before = await manifestRequests();
    expect(await agentUpdate()).toEqual({ result: 'up-to-date', version: '1.0.0', manifestRequested: true });
    expect(await agentUpdate()).toEqual({ result: 'up-to-date', version: '1.0.0', manifestRequested: false });
    expect(await manifestRequests()).toBe(before + 1);

    const snapshot = await snapshotVersion();
    expect((await promoteTo(product, 'stable', '1.1.0', 100)).channel).toMatchObject({ version: '1.1.0', percent: 100 });
    expect(await snapshotVersion()).toBeGreaterThan(snapshot); // the promote moved what agents watch
    expect(await agentUpdate()).toMatchObject({ result: 'installed', version: '1.1.0' });
  });

  it('is told of a halt at its next poll, and keeps the previous version it has', async () => {
    await publishVersion(product, '1.2.0', { 'main.sig': 'v1.2\n' }, ['--channel', 'stable', '--percent', '100']);
    const snapshot = await snapshotVersion();
    await haltChannel(product, 'stable');
    expect(await snapshotVersion()).toBeGreaterThan(snapshot);
    const before = await manifestRequests();
    // It had not installed 1.2.0: the halt offers it the previous version, which it has.
    expect(await agentUpdate()).toEqual({ result: 'up-to-date', version: '1.1.0', manifestRequested: true });
    expect(await manifestRequests()).toBe(before + 1);
  });
});
