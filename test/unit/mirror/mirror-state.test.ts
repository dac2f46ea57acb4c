/**
 * The mirror's own rules, without a network: which versions it holds, the data-dir lock,
 * the license as the lease and the upstream's refusals leave it, and root chains.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LeaseExpired, Unavailable } from '#lib/errors.ts';
import type { LeasePayload } from '#lib/mirror/lease.ts';
import { LEASE_CONTEXT } from '#lib/mirror/lease.ts';
import type { Channel } from '#lib/releases/store.ts';
import { newRoot, rootChainBreak, signMetadata } from '#lib/tuf/metadata.ts';
import { pemSigner } from '#lib/tuf/signer.ts';
import { testLicense } from '#test/support/licenses.ts';
import { MirrorError } from '../../../mirror/errors.ts';
import { MirrorLicensing } from '../../../mirror/licensing.ts';
import { paths, withDirLock } from '../../../mirror/state.ts';
import { versionsToHold } from '../../../mirror/sync.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'signet-mirror-unit-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const channel = (over: Partial<Channel>): Channel => ({ product: 'demo-av', channel: 'stable', version: '1.0.0', setManifest: 'x', percent: 100, status: 'active', revision: 1, updatedAt: '2026-01-01T00:00:00Z', updatedBy: 'ci', ...over }) as Channel;

function lease(over: Partial<LeasePayload> = {}): LeasePayload {
  const { license } = testLicense();
  return {
    kind: LEASE_CONTEXT,
    mirrorId: 'a'.repeat(32),
    licenseId: license.licenseId,
    keyHash: license.keyHash,
    customer: license.customer,
    products: ['demo-av'],
    licenseStatus: 'active',
    licenseExpiresAt: '2099-01-01T00:00:00Z',
    reclaimAfterDays: 30,
    seats: 3,
    issuedAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    blacklist: [],
    channels: [],
    ...over,
  };
}

describe('the versions a mirror holds', () => {
  const all = ['2.0.0', '1.9.0', '1.8.0', '1.7.0', '1.2.0'].map((version) => ({ version, path: `demo-av/set-${version}.json` }));

  it('are the newest `keep`, and every channel\'s head and previous version however old', () => {
    const held = versionsToHold({ channels: [channel({ version: '1.7.0', previousVersion: '1.2.0' }), channel({ channel: 'beta', version: '2.0.0' })] } as never, all, 'demo-av', 2);
    expect(held.map((v) => v.version)).toEqual(['2.0.0', '1.9.0', '1.7.0', '1.2.0']);
  });

  it('ignore other products\' channels', () => {
    expect(versionsToHold({ channels: [channel({ product: 'other', version: '1.2.0' })] } as never, all, 'demo-av', 1).map((v) => v.version)).toEqual(['2.0.0']);
  });
});

describe('the data-dir lock', () => {
  it('lets one holder in at a time', async () => {
    const order: string[] = [];
    const slow = (name: string) => withDirLock(dir, async () => {
      order.push(`${name} in`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      order.push(`${name} out`);
    });
    await Promise.all([slow('a'), slow('b')]);
    // Either may win the race for the lock; what must hold is that neither enters while the other is in.
    const [first, second] = order[0] === 'a in' ? ['a', 'b'] : ['b', 'a'];
    expect(order).toEqual([`${first} in`, `${first} out`, `${second} in`, `${second} out`]);
  });

  it('takes over a lock whose holder died, and waits for a live one only so long', async () => {
    // A pid no process has (above the kernel's pid_max).
    await writeFile(paths(dir).lock, '99999999');
    await expect(withDirLock(dir, async () => 'done')).resolves.toBe('done');
    // pid 1 is alive: the lock is busy.
    await writeFile(paths(dir).lock, '1');
    await expect(withDirLock(dir, async () => 'never', 300)).rejects.toThrow(MirrorError);
    expect(await readFile(paths(dir).lock, 'utf8')).toBe('1');
  });
});

describe('the license at a mirror', () => {
  it('answers nothing before a lease, and LEASE_EXPIRED after it', async () => {
    const licensing = new MirrorLicensing(dir);
    const ids = { licenseId: 'x', agentId: 'y', machineHash: 'z' };
    await expect(licensing.store.readAccess(ids)).rejects.toThrow(Unavailable);
    licensing.apply(lease({ expiresAt: new Date(Date.now() - 1000).toISOString() }), undefined);
    await expect(licensing.store.readAccess(ids)).rejects.toThrow(LeaseExpired);
  });

  it('holds a withdrawal by the upstream across restarts, until a lease is granted again', async () => {
    const payload = lease();
    const first = new MirrorLicensing(dir);
    first.apply(payload, undefined);
    expect(first.store.licenses.get(payload.licenseId)?.status).toBe('active');
    await first.withdraw('LICENSE_SUSPENDED', new Date());
    expect(first.store.licenses.get(payload.licenseId)?.status).toBe('suspended');

    const restarted = new MirrorLicensing(dir);
    await restarted.load();
    restarted.apply(payload, undefined);
    expect(restarted.store.licenses.get(payload.licenseId)?.status).toBe('suspended');
    await restarted.withdraw('LICENSE_INVALID', new Date());
    expect(restarted.store.licenses.has(payload.licenseId)).toBe(false);

    await restarted.reinstate();
    restarted.apply(payload, undefined);
    expect(restarted.store.licenses.get(payload.licenseId)?.status).toBe('active');
    const again = new MirrorLicensing(dir);
    await again.load();
    expect(again.withdrawn()).toBeUndefined();
  });

  it('takes the blacklist and the seats from the lease', () => {
    const licensing = new MirrorLicensing(dir);
    licensing.apply(lease({ blacklist: ['h1', 'h2'], seats: 7 }), undefined);
    expect([...licensing.store.blacklisted]).toEqual(['h1', 'h2']);
    expect([...licensing.store.licenses.values()][0]?.seats).toBe(7);
  });
});

describe('root chains', () => {
  const signer = () => pemSigner(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const now = new Date();

  async function rootSignedBy(version: number, key: ReturnType<typeof signer>, by: ReadonlyArray<ReturnType<typeof signer>>) {
    const other = signer();
    return signMetadata(newRoot({ keys: { root: [key.key], targets: [other.key], snapshot: [other.key], timestamp: [other.key] }, version, now }), by);
  }

  it('hold when each version is signed by the keys of the one before and its own', async () => {
    const [k1, k2, k3] = [signer(), signer(), signer()];
    const chain = [await rootSignedBy(1, k1, [k1]), await rootSignedBy(2, k2, [k1, k2]), await rootSignedBy(3, k3, [k2, k3])];
    expect(rootChainBreak(chain)).toBeUndefined();
  });

  it('break where a version lacks the previous keys\' signature, or a version is skipped', async () => {
    const [k1, k2, intruder] = [signer(), signer(), signer()];
    expect(rootChainBreak([await rootSignedBy(1, k1, [k1]), await rootSignedBy(2, k2, [intruder, k2])])).toBe(2);
    expect(rootChainBreak([await rootSignedBy(1, k1, [k1]), await rootSignedBy(2, k2, [k1])])).toBe(2);
    expect(rootChainBreak([await rootSignedBy(1, k1, [k1]), await rootSignedBy(3, k1, [k1])])).toBe(2);
  });
});
