import { describe, expect, it } from 'vitest';
import { AgentRevoked, ComputerBlacklisted, LicenseExpired, LicenseInvalid, SeatsExhausted } from '#lib/errors.ts';
import { authenticateAgent } from '#lib/licensing/authenticate.ts';
import { registerAgent } from '#lib/licensing/register.ts';
import { machineHashOf } from '#lib/licensing/secrets.ts';
import { FakeLicensingStore } from '#test/support/fakes.ts';
import { testLicense } from '#test/support/licenses.ts';

const now = new Date('2026-12-01T12:00:00Z');
const clock = () => now;
const request = (licenseKey: string, machineId = 'pc-1') => ({ licenseKey, machineId, product: 'demo-av', os: 'linux', arch: 'x64' });

function storeWith(overrides = {}) {
  const store = new FakeLicensingStore();
  const { key, license } = testLicense(overrides);
  store.licenses.set(license.licenseId, license);
  return { store, key, license };
}

describe('registerAgent (the use case, on an in-memory store)', () => {
  it('takes a seat for a new machine and answers with a token that authenticates', async () => {
    const { store, key, license } = storeWith();
    const registration = await registerAgent(store, request(key), clock);
    expect(registration.created).toBe(true);
    expect(store.licenses.get(license.licenseId)?.seatsUsed).toBe(1);
    const { agent } = await authenticateAgent(store, registration.token, now);
    expect(agent.agentId).toBe(registration.agentId);
  });

  it('gives the same machine a new token, not a new seat, and the old token stops working', async () => {
    const { store, key, license } = storeWith();
    const first = await registerAgent(store, request(key), clock);
    const second = await registerAgent(store, request(key), clock);
    expect(second).toMatchObject({ created: false, agentId: first.agentId });
    expect(second.token).not.toBe(first.token);
    expect(store.licenses.get(license.licenseId)?.seatsUsed).toBe(1);
    await expect(authenticateAgent(store, first.token, now)).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
  });

  it('refuses a machine beyond the seats with SeatsExhausted', async () => {
    const { store, key } = storeWith({ seats: 1 });
    await registerAgent(store, request(key, 'pc-1'), clock);
    await expect(registerAgent(store, request(key, 'pc-2'), clock)).rejects.toBeInstanceOf(SeatsExhausted);
  });

  it('reclaims the seat of an agent silent longer than the license allows when the license is full', async () => {
    const { store, key, license } = storeWith({ seats: 1, reclaimAfterDays: 30 });
    const old = await registerAgent(store, request(key, 'pc-old'), () => new Date('2026-10-01T00:00:00Z'));
    const fresh = await registerAgent(store, request(key, 'pc-new'), clock);
    expect(fresh.created).toBe(true);
    expect(store.agents.get(old.agentId)?.status).toBe('reclaimed');
    expect(store.licenses.get(license.licenseId)?.seatsUsed).toBe(1);
  });

  it('refuses an unknown key, an expired license, a blacklisted computer and a revoked agent, each by its type', async () => {
    const { store, key } = storeWith();
    await expect(registerAgent(store, request(`${key.slice(0, -1)}X`), clock)).rejects.toBeInstanceOf(LicenseInvalid);

    const expired = storeWith({ expiresAt: '2026-01-01T00:00:00Z' });
    await expect(registerAgent(expired.store, request(expired.key), clock)).rejects.toBeInstanceOf(LicenseExpired);

    store.blacklisted.add(machineHashOf('pc-bad'));
    await expect(registerAgent(store, request(key, 'pc-bad'), clock)).rejects.toBeInstanceOf(ComputerBlacklisted);

    const { agentId } = await registerAgent(store, request(key, 'pc-2'), clock);
    const agent = store.agents.get(agentId);
    if (agent) store.agents.set(agentId, { ...agent, status: 'revoked' });
    await expect(registerAgent(store, request(key, 'pc-2'), clock)).rejects.toBeInstanceOf(AgentRevoked);
  });
});
