import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Grant } from '#lib/delivery/grant.ts';
import { Conflict, LicenseExpired, LicenseInvalid, LicenseRevoked, LicenseSuspended, NotFound, SeatsExhausted } from '#lib/errors.ts';
import type { License, MirrorRecord } from '#lib/licensing/model.ts';
import { isMirrorReclaimable, leaseExpiry } from '#lib/licensing/model.ts';
import type { LeaseDeps } from '#lib/licensing/mirrors.ts';
import { authenticateMirror, LEASED_CHANNEL_AUTHOR, leaseMirror } from '#lib/licensing/mirrors.ts';
import { registerAgent } from '#lib/licensing/register.ts';
import { DEFAULT_LEASE_DAYS, verifyLease } from '#lib/mirror/lease.ts';
import type { Channel } from '#lib/releases/store.ts';
import { newRoot } from '#lib/tuf/metadata.ts';
import { pemSigner } from '#lib/tuf/signer.ts';
import { FakeChannels, FakeLicensingStore } from '#test/support/fakes.ts';
import { testLicense } from '#test/support/licenses.ts';

const now = new Date('2026-12-01T12:00:00Z');
const MIRROR_A = 'a'.repeat(32);
const MIRROR_B = 'b'.repeat(32);
const pem = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const timestampSigner = pemSigner(pem());
const otherSigner = pemSigner(pem());
const root = newRoot({ keys: { root: [otherSigner.key], targets: [otherSigner.key], snapshot: [otherSigner.key], timestamp: [timestampSigner.key] }, now }).signed;
const grantOf = (product: string): Grant => ({ query: `Policy=${product}`, expiresAt: '2026-12-01T13:00:00Z' });

function channel(overrides: Partial<Channel> = {}): Channel {
  return { product: 'demo-av', channel: 'stable', version: '1.1.0', percent: 10, previousVersion: '1.0.0', status: 'active', revision: 3, updatedAt: now.toISOString(), updatedBy: 'ci', ...overrides };
}

function setup(overrides: Partial<License> = {}) {
  const store = new FakeLicensingStore();
  const { key, license } = testLicense({ seats: 5, products: ['demo-av', 'demo-vuln'], ...overrides });
  store.licenses.set(license.licenseId, license);
  store.blacklisted.add('0'.repeat(32));
  const channels = new FakeChannels();
  channels.channels.set('demo-av/stable', channel());
  channels.channels.set('other/stable', channel({ product: 'other' }));
  const deps: LeaseDeps = {
    store,
    releases: channels.listing,
    grants: { grant: async (product) => grantOf(product) },
    signer: timestampSigner,
    cdnBaseUrl: 'https://cdn.example',
    pollSeconds: 900,
  };
  const seatsUsed = () => store.licenses.get(license.licenseId)?.seatsUsed;
  return { store, key, license, deps, seatsUsed };
}

describe('leaseMirror (the use case, on in-memory stores)', () => {
  it('takes the seats from the license and answers a lease the trusted root verifies, with the license, blacklist, channels and a grant per product', async () => {
    const { key, license, deps, seatsUsed } = setup();
    const issued = await leaseMirror(deps, { licenseKey: key, mirrorId: MIRROR_A, seats: 3 }, () => now);
    expect(seatsUsed()).toBe(3);
    const verdict = verifyLease(issued.lease, root, { mirrorId: MIRROR_A, licenseId: license.licenseId, now });
    expect(verdict.ok).toBe(true);
    expect(issued.lease.signed).toEqual({
      kind: 'signet-lease/1',
      mirrorId: MIRROR_A,
      licenseId: license.licenseId,
      keyHash: license.keyHash,
      customer: 'ACME',
      products: ['demo-av', 'demo-vuln'],
      licenseStatus: 'active',
      licenseExpiresAt: license.expiresAt,
      reclaimAfterDays: 30,
      seats: 3,
      issuedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + DEFAULT_LEASE_DAYS * 86_400_000).toISOString(),
      blacklist: ['0'.repeat(32)],
      // The rollout as the service holds it, without who set it (channel() was set by 'ci').
      channels: [channel({ updatedBy: LEASED_CHANNEL_AUTHOR })],
    });
    expect(JSON.stringify(issued)).not.toContain(key);
    expect(issued.grants).toEqual({ 'demo-av': grantOf('demo-av'), 'demo-vuln': grantOf('demo-vuln') });
    expect(issued).toMatchObject({ metadataUrl: 'https://cdn.example/metadata/', targetsUrl: 'https://cdn.example/targets/', pollSeconds: 900 });
  });

  it('refuses a lease signed by another key, for another mirror, or expired', async () => {
    const { key, deps } = setup();
    const issued = await leaseMirror({ ...deps, signer: otherSigner }, { licenseKey: key, mirrorId: MIRROR_A, seats: 1 }, () => now);
    expect(verifyLease(issued.lease, root, { mirrorId: MIRROR_A, now }).ok).toBe(false);
    const good = await leaseMirror(deps, { licenseKey: key, mirrorId: MIRROR_A, seats: 1, validDays: 1 }, () => now);
    expect(verifyLease(good.lease, root, { mirrorId: MIRROR_B, now }).ok).toBe(false);
    expect(verifyLease(good.lease, root, { mirrorId: MIRROR_A, now: new Date(now.getTime() + 86_400_000) }).ok).toBe(false);
  });

  it('moves seats by the difference only: the same seats renew, fewer give seats back, more than free is SEATS_EXHAUSTED', async () => {
    const { key, deps, store, seatsUsed } = setup();
    await leaseMirror(deps, { licenseKey: key, mirrorId: MIRROR_A, seats: 3 }, () => now);
    const later = new Date(now.getTime() + 3_600_000);
    const renewed = await leaseMirror(deps, { licenseKey: key, mirrorId: MIRROR_A, seats: 3 }, () => later);
    expect(seatsUsed()).toBe(3);
    expect(renewed.lease.signed.issuedAt).toBe(later.toISOString());
    expect(store.mirrors.get(MIRROR_A)).toMatchObject({ seats: 3, leaseExpiresAt: renewed.lease.signed.expiresAt, revision: 2 });

    await expect(leaseMirror(deps, { licenseKey: key, mirrorId: MIRROR_B, seats: 3 }, () => now)).rejects.toBeInstanceOf(SeatsExhausted);
    expect(seatsUsed()).toBe(3);
    await leaseMirror(deps, { licenseKey: key, mirrorId: MIRROR_A, seats: 1 }, () => now);
    expect(seatsUsed()).toBe(1);
    await leaseMirror(deps, { licenseKey: key, mirrorId: MIRROR_B, seats: 3 }, () => now);
    expect(seatsUsed()).toBe(4);
    await leaseMirror(deps, { licenseKey: key, mirrorId: MIRROR_A, seats: 0 }, () => now);
    expect(seatsUsed()).toBe(3);
    expect(store.mirrors.get(MIRROR_A)).toMatchObject({ seats: 0 }); // the id stays the license's
  });

  it('counts agents and mirrors against the same seats', async () => {
    const { key, deps, store, seatsUsed } = setup({ seats: 3 });
    for (const machineId of ['pc-1', 'pc-2']) await registerAgent(store, { licenseKey: key, machineId, product: 'demo-av', os: 'linux', arch: 'x64' }, () => now);
    await expect(leaseMirror(deps, { licenseKey: key, mirrorId: MIRROR_A, seats: 2 }, () => now)).rejects.toBeInstanceOf(SeatsExhausted);
    await leaseMirror(deps, { licenseKey: key, mirrorId: MIRROR_A, seats: 1 }, () => now);
    expect(seatsUsed()).toBe(3);
    await expect(registerAgent(store, { licenseKey: key, machineId: 'pc-3', product: 'demo-av', os: 'linux', arch: 'x64' }, () => now)).rejects.toBeInstanceOf(SeatsExhausted);
  });

  it('refuses a mirror id another license leased (CONFLICT), and the license key of nobody (LICENSE_INVALID)', async () => {
    const { key, deps, store } = setup();
    await leaseMirror(deps, { licenseKey: key, mirrorId: MIRROR_A, seats: 1 }, () => now);
    const other = testLicense({ seats: 5 });
    store.licenses.set(other.license.licenseId, other.license);
    await expect(leaseMirror(deps, { licenseKey: other.key, mirrorId: MIRROR_A, seats: 1 }, () => now)).rejects.toBeInstanceOf(Conflict);
    expect(store.licenses.get(other.license.licenseId)?.seatsUsed).toBe(0);
    await expect(leaseMirror(deps, { licenseKey: 'SIG-NOBODY', mirrorId: MIRROR_B, seats: 1 }, () => now)).rejects.toBeInstanceOf(LicenseInvalid);
  });

  it.each([
    ['suspended', { status: 'suspended' } as const, LicenseSuspended],
    ['revoked', { status: 'revoked' } as const, LicenseRevoked],
    ['expired', { expiresAt: '2026-01-01T00:00:00Z' }, LicenseExpired],
  ])('refuses a %s license with its refusal', async (_name, overrides, refusal) => {
    const { key, deps, seatsUsed } = setup(overrides);
    await expect(leaseMirror(deps, { licenseKey: key, mirrorId: MIRROR_A, seats: 1 }, () => now)).rejects.toBeInstanceOf(refusal);
    expect(seatsUsed()).toBe(0);
  });

  it('never lets a lease outlive its license', async () => {
    const expiresAt = new Date(now.getTime() + 2 * 86_400_000).toISOString();
    const { key, deps } = setup({ expiresAt });
    const issued = await leaseMirror(deps, { licenseKey: key, mirrorId: MIRROR_A, seats: 1, validDays: 30 }, () => now);
    expect(issued.lease.signed.expiresAt).toBe(expiresAt);
    expect(leaseExpiry({ expiresAt }, 1, now).toISOString()).toBe(new Date(now.getTime() + 86_400_000).toISOString());
  });

  it('reclaims the seats of a mirror whose lease ended longer ago than reclaimAfterDays, for a registration or another mirror', async () => {
    const { key, deps, store, seatsUsed } = setup({ seats: 3, reclaimAfterDays: 30 });
    const longAgo = new Date(now.getTime() - 60 * 86_400_000);
    await leaseMirror(deps, { licenseKey: key, mirrorId: MIRROR_A, seats: 3, validDays: 1 }, () => longAgo);
    await registerAgent(store, { licenseKey: key, machineId: 'pc-1', product: 'demo-av', os: 'linux', arch: 'x64' }, () => now);
    expect(store.mirrors.get(MIRROR_A)).toMatchObject({ seats: 0, reclaimedAt: now.toISOString() });
    expect(seatsUsed()).toBe(1);
    await leaseMirror(deps, { licenseKey: key, mirrorId: MIRROR_B, seats: 2 }, () => now);
    expect(seatsUsed()).toBe(3);
  });

  it('does not reclaim a mirror whose lease ended recently', () => {
    const mirror: Pick<MirrorRecord, 'seats' | 'leaseExpiresAt'> = { seats: 2, leaseExpiresAt: new Date(now.getTime() - 29 * 86_400_000).toISOString() };
    expect(isMirrorReclaimable(mirror, { reclaimAfterDays: 30 }, now)).toBe(false);
    expect(isMirrorReclaimable({ ...mirror, leaseExpiresAt: new Date(now.getTime() - 31 * 86_400_000).toISOString() }, { reclaimAfterDays: 30 }, now)).toBe(true);
    expect(isMirrorReclaimable({ seats: 0, leaseExpiresAt: '2000-01-01T00:00:00Z' }, { reclaimAfterDays: 30 }, now)).toBe(false);
  });
});

describe('authenticateMirror', () => {
  it('answers the license and mirror; NOT_FOUND for a mirror never leased or leased under another license', async () => {
    const { key, deps, store, license } = setup();
    await leaseMirror(deps, { licenseKey: key, mirrorId: MIRROR_A, seats: 1 }, () => now);
    await expect(authenticateMirror(store, key, MIRROR_A, now)).resolves.toMatchObject({ license: { licenseId: license.licenseId }, mirror: { mirrorId: MIRROR_A } });
    await expect(authenticateMirror(store, key, MIRROR_B, now)).rejects.toBeInstanceOf(NotFound);
    const other = testLicense();
    store.licenses.set(other.license.licenseId, other.license);
    await expect(authenticateMirror(store, other.key, MIRROR_A, now)).rejects.toBeInstanceOf(NotFound);
    store.licenses.set(license.licenseId, { ...license, status: 'suspended' });
    await expect(authenticateMirror(store, key, MIRROR_A, now)).rejects.toBeInstanceOf(LicenseSuspended);
  });
});
