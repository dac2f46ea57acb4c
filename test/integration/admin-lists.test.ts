/** The admin API's lists (the operator console's data), paginated, against DynamoDB Local. */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AdminApiError } from '#cli/errors.ts';
import type { LicenseView } from '#lib/licensing/admin.ts';
import { agentFor, publishVersion, report } from '#test/support/delivery.ts';
import { admin, createTestLicense } from '#test/support/licensing.ts';

/** Every item of a list, following its cursors `limit` at a time; also how many pages it took. */
async function everything<T>(path: string, key: string, limit: number): Promise<{ items: T[]; pages: number }> {
  const client = await admin();
  const items: T[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await client.call<Record<string, unknown> & { nextCursor?: string }>('GET', `${path}?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...(page[key] as T[]));
    cursor = page.nextCursor;
    pages++;
  } while (cursor && pages < 1000);
  return { items, pages };
}

describe('admin lists', () => {
  it('pages through every license, newest first, each once', async () => {
    const created = [];
    for (let i = 0; i < 3; i++) created.push((await createTestLicense()).license.licenseId);
    const { items, pages } = await everything<LicenseView>('/v1/admin/licenses', 'licenses', 2);
    const ids = items.map((l) => l.licenseId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(pages).toBeGreaterThanOrEqual(2);
    // Newest first: the three just made lead, in reverse order of creation.
    expect(ids.slice(0, 3)).toEqual([...created].reverse());
    expect(items[0]).not.toHaveProperty('keyHash');
  });

  it("pages through a license's seat holders, and answers 404 for a license that does not exist", async () => {
    const { licenseKey, license } = await createTestLicense({ seats: 5 });
    const agents = await Promise.all([1, 2, 3].map(() => agentFor(licenseKey, 'demo-av')));
    const { items, pages } = await everything<{ agentId: string; lastSeenAt: string }>(`/v1/admin/licenses/${license.licenseId}/agents`, 'agents', 2);
    expect(pages).toBe(2);
    expect(items.map((a) => a.agentId).sort()).toEqual(agents.map((a) => a.agentId).sort());
    const error = await (await admin()).call('GET', `/v1/admin/licenses/${'0'.repeat(32)}/agents`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdminApiError);
    expect((error as AdminApiError).status).toBe(404);
  });

  it('lists the blacklist by machine id, reason kept', async () => {
    const client = await admin();
    const machine = `list-${randomUUID()}`;
    await client.call('PUT', `/v1/admin/blacklist/${machine}`, { reason: 'test' });
    const { items } = await everything<{ machineId: string; reason?: string }>('/v1/admin/blacklist', 'entries', 100);
    expect(items.find((e) => e.machineId === machine)).toMatchObject({ reason: 'test' });
    await client.call('DELETE', `/v1/admin/blacklist/${machine}`);
  });

  it("lists published products, and keeps each version's last report time", async () => {
    const product = `list-${randomUUID().slice(0, 8)}`;
    await publishVersion(product, '1.0.0', { 'a.sig': 'a' }, ['--channel', 'stable']);
    const client = await admin();
    expect((await client.call<{ products: string[] }>('GET', '/v1/admin/products')).products).toContain(product);
    const { licenseKey } = await createTestLicense({ products: [product] });
    const agent = await agentFor(licenseKey, product);
    const before = new Date().toISOString();
    expect(await report(agent.token, { product, installedVersion: '1.0.0', result: 'ok' })).toBe(202);
    const fleet = await client.call<{ versions: Array<{ version: string; lastReportAt?: string }> }>('GET', `/v1/admin/fleet/${product}`);
    const last = fleet.versions[0]?.lastReportAt ?? '';
    expect(last >= before, `${last} >= ${before}`).toBe(true);
  });

  it("pages a day's audit trail newest first, and refuses a cursor of another list", async () => {
    const client = await admin();
    const { items, pages } = await everything<{ at: string }>('/v1/admin/audit', 'entries', 3);
    expect(pages).toBeGreaterThan(1);
    const times = items.map((e) => e.at);
    expect(times).toEqual([...times].sort().reverse());
    const licenses = await client.call<{ nextCursor?: string }>('GET', '/v1/admin/licenses?limit=1');
    const error = await client.call('GET', `/v1/admin/audit?cursor=${encodeURIComponent(licenses.nextCursor ?? 'x')}`).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 400, code: 'INVALID_REQUEST' });
    expect(await client.call('GET', '/v1/admin/licenses?limit=0').catch((e: unknown) => e)).toMatchObject({ status: 400, code: 'INVALID_REQUEST' });
  });
});
