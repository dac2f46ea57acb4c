import { describe, expect, it } from 'vitest';
import { listBlacklist, listLicenses, listSeatHolders } from '#lib/licensing/admin.ts';
import { NotFound } from '#lib/errors.ts';
import type { Agent } from '#lib/licensing/model.ts';
import { testLicense } from '#test/support/licenses.ts';

const agent: Agent = {
  agentId: 'a'.repeat(32),
  licenseId: 'l'.repeat(32),
  machineId: 'pc-1',
  machineHash: 'secret-hash',
  product: 'demo-av',
  os: 'linux',
  arch: 'x64',
  tokenHash: 'secret-token-hash',
  status: 'active',
  registeredAt: '2026-11-01T00:00:00.000Z',
  lastSeenAt: '2026-12-01T00:00:00.000Z',
};

describe('the admin lists', () => {
  it('show licenses without their key hash, and pass the page on', async () => {
    const { license } = testLicense();
    let asked: unknown[] = [];
    const page = await listLicenses({ licensePage: async (...args) => ((asked = args), { items: [license], nextCursor: 'next' }) }, { limit: 20, cursor: 'c' });
    expect(asked).toEqual([20, 'c']);
    expect(page.nextCursor).toBe('next');
    expect(page.licenses[0]).not.toHaveProperty('keyHash');
    expect(page.licenses[0]?.licenseId).toBe(license.licenseId);
  });

  it('leave nextCursor out on the last page', async () => {
    const page = await listLicenses({ licensePage: async () => ({ items: [] }) }, { limit: 20 });
    expect(page).toEqual({ licenses: [] });
  });

  it('show seat holders without token or machine hashes, and 404 for a license that does not exist', async () => {
    const { license } = testLicense();
    const store = { getLicense: async (id: string) => (id === license.licenseId ? license : undefined), seatHolderPage: async () => ({ items: [agent] }) };
    const page = await listSeatHolders(store, license.licenseId, { limit: 50 });
    expect(page.agents[0]).toMatchObject({ agentId: agent.agentId, machineId: 'pc-1', lastSeenAt: agent.lastSeenAt });
    expect(page.agents[0]).not.toHaveProperty('tokenHash');
    expect(page.agents[0]).not.toHaveProperty('machineHash');
    await expect(listSeatHolders(store, 'f'.repeat(32), { limit: 50 })).rejects.toBeInstanceOf(NotFound);
  });

  it('show blacklist entries by machine id, without the hash', async () => {
    const page = await listBlacklist(
      { blacklistPage: async () => ({ items: [{ machineHash: 'h', machineId: 'pc-9', addedAt: '2026-12-01T00:00:00.000Z', addedBy: 'ops' }, { machineHash: 'i', machineId: 'pc-8', reason: 'stolen', addedAt: '2026-12-01T00:00:00.000Z', addedBy: 'ops' }], nextCursor: 'n' }) },
      { limit: 50 },
    );
    expect(page).toEqual({
      entries: [
        { machineId: 'pc-9', addedAt: '2026-12-01T00:00:00.000Z', addedBy: 'ops' },
        { machineId: 'pc-8', reason: 'stolen', addedAt: '2026-12-01T00:00:00.000Z', addedBy: 'ops' },
      ],
      nextCursor: 'n',
    });
  });
});
