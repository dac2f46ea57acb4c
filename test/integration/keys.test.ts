/**
 * Key rotation, on a stack of its own (a rotated root must not surprise the other files'
 * clients): root and targets keys rotate to root v2 signed by the old and the new root
 * key, and a client that only ever trusted v1 walks to v2 and verifies what is published
 * after it; the CDN key group takes a second key before the first one leaves.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRoot, verifyRole } from '#lib/tuf/metadata.ts';
import { cdnKeyDir } from '#lib/cdn/key-files.ts';
import { tufKeyDir } from '#local/tuf-keys.ts';
import type { RunningSignet } from '#test/support/cli.ts';
import { runSignet, startSignetLocal } from '#test/support/cli.ts';
import { trustedTargets, tufClient } from '#test/support/tuf-client.ts';

let work: string;
let dataDir: string;
let local: RunningSignet;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'signet-keys-'));
  dataDir = join(work, 'data');
  local = await startSignetLocal(['--port', '0', '--data-dir', dataDir, '--quiet']);
}, 60_000);

afterAll(async () => {
  await local?.stop();
  await rm(work, { recursive: true, force: true });
});

async function signet(...args: string[]) {
  const result = await runSignet([...args, '--data-dir', dataDir]);
  if (result.code !== 0) throw new Error(`signet ${args.join(' ')}: ${result.stderr}`);
  return result;
}

describe('signet keys init', () => {
  it('writes 0600 role keys and a self-signed root v1 listing one key per role', async () => {
    const out = join(work, 'new-keys');
    const result = await runSignet(['keys', 'init', '--out', out]);
    expect(result.code).toBe(0);
    for (const role of ['root', 'targets', 'snapshot', 'timestamp']) {
      expect((await stat(join(out, `${role}.key.pem`))).mode & 0o777).toBe(0o600);
    }
    const root = parseRoot(await readFile(join(out, '1.root.json')));
    expect(verifyRole(root.signed, 'root', root)).toBe(true);
    expect(Object.values(root.signed.roles).map((r) => r.keyIDs.length)).toEqual([1, 1, 1, 1]);
    expect((await runSignet(['keys', 'init', '--out', out])).stderr).toContain('refusing to overwrite a key');
  });
});

describe('root and targets key rotation', () => {
  it('publishes root v2 signed by old and new root keys; a client trusting only v1 follows it and verifies a release signed with the new targets key', async () => {
    const oldTargetsKey = await readFile(join(tufKeyDir(dataDir), 'targets.key.pem'), 'utf8');
    await signet('keys', 'rotate-root', '--targets');

    const root2 = parseRoot(await readFile(join(tufKeyDir(dataDir), '2.root.json')));
    expect(root2.signed.version).toBe(2);
    expect(Object.keys(root2.signatures)).toHaveLength(2); // old and new root key
    expect(await readFile(join(tufKeyDir(dataDir), 'targets.key.pem'), 'utf8')).not.toBe(oldTargetsKey);
    expect(await readdir(tufKeyDir(dataDir))).toEqual(expect.arrayContaining(['root.v1.key.pem', 'targets.v1.key.pem']));

    const dir = join(work, 'set');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
    await writeFile(join(dir, 'main.sig'), 'after rotation');
    await signet('publish', '--product', 'demo-av', '--version', '1.1.0', '--dir', dir);

    const client = await tufClient({ baseUrl: local.baseUrl, dataDir }, ['demo-av']); // seeded with DATA_DIR/root.json, v1
    try {
      await client.updater.refresh();
      const trusted = parseRoot(await readFile(join(client.metadataDir, 'root.json')));
      expect(trusted.signed.version).toBe(2);
      const sets = Object.values(await trustedTargets(client));
      const set = sets.find((t) => (t.custom as { version?: string }).version === '1.1.0');
      expect(set).toBeDefined();
      const manifest = await client.setManifest(set?.path ?? '');
      expect((await client.download(manifest.files[0]?.target ?? '')).toString()).toBe('after rotation');
    } finally {
      await client.dispose();
    }
  });

  it('refuses a targets key that the current root no longer lists', async () => {
    const dir = join(work, 'set-old');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'main.sig'), 'signed with a retired key');
    const result = await runSignet(['publish', '--product', 'demo-av', '--version', '1.2.0', '--dir', dir, '--data-dir', dataDir, '--targets-key', join(tufKeyDir(dataDir), 'targets.v1.key.pem')]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toMatch(/^signet: FORBIDDEN: targets: not signed by the targets key\(s\) of the current root$/);
  });
});

describe('CDN key rotation (local key group)', () => {
  it('accepts URLs of both keys while both are in the group, and only the new one once the old is retired', async () => {
    const [oldId] = (await readdir(cdnKeyDir(dataDir))).filter((f) => f.endsWith('.pub.pem')).map((f) => f.replace('.pub.pem', ''));
    const target = `${local.baseUrl}/targets/demo-av/${'0'.repeat(64)}.absent.sig`; // valid signature + missing file = 404
    const oldUrl = (await signet('sign-url', target)).stdout.trim();
    await signet('keys', 'rotate-cdn');
    const newUrl = (await signet('sign-url', target)).stdout.trim();
    expect(new URL(newUrl).searchParams.get('Key-Pair-Id')).not.toBe(oldId);
    expect((await fetch(oldUrl)).status).toBe(404);
    expect((await fetch(newUrl)).status).toBe(404);

    await signet('keys', 'retire-cdn', oldId ?? '');
    await new Promise((r) => setTimeout(r, 600)); // the origin re-reads its key group at most twice a second
    expect((await fetch(oldUrl)).status).toBe(403);
    expect((await fetch(newUrl)).status).toBe(404);
  });

  it('refuses to retire the last CDN key', async () => {
    const [only] = (await readdir(cdnKeyDir(dataDir))).filter((f) => f.endsWith('.pub.pem')).map((f) => f.replace('.pub.pem', ''));
    const result = await runSignet(['keys', 'retire-cdn', only ?? '', '--data-dir', dataDir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('is the only CDN key');
  });
});
