import { describe, expect, it } from 'vitest';
import type { Item, Key } from '#lib/aws/table.ts';
import type { AccessStore } from '#lib/licensing/authenticate.ts';
import { withCachedExtras } from '#lib/licensing/cached-extras.ts';
import { channelKey, releaseKey, releaseRecordsPolicy } from '#lib/releases/store.ts';

/** A store whose records are set by hand, counting the extras each read asked for. */
function storeOf(records: Map<string, Item>) {
  const asked: string[][] = [];
  const store: AccessStore = {
    touch: async () => undefined,
    async readAccess(_ids, extra = []) {
      asked.push(extra.map((k) => k.pk));
      return { blacklisted: false, extra: extra.map((k: Key) => records.get(`${k.pk}|${k.sk}`)) };
    },
  };
  return { store, asked };
}

const ids = { licenseId: 'l', agentId: 'a', machineHash: 'm' };
const channel = channelKey('demo-av', 'stable');
const release = releaseKey('demo-av', '1.1.0');

describe('records kept with an agent\'s authentication', () => {
  it('serve a halt at most channelCacheSeconds late, then read it in the same round trip as the rest', async () => {
    const records = new Map<string, Item>([[`${channel.pk}|${channel.sk}`, { status: 'active' }]]);
    const { store, asked } = storeOf(records);
    let now = 0;
    const cached = withCachedExtras(store, releaseRecordsPolicy(5_000), () => now);
    expect((await cached.readAccess(ids, [channel])).extra).toEqual([{ status: 'active' }]);
    records.set(`${channel.pk}|${channel.sk}`, { status: 'halted' }); // halted at t = 0
    now = 4_999;
    expect((await cached.readAccess(ids, [channel])).extra).toEqual([{ status: 'active' }]);
    now = 5_000;
    expect((await cached.readAccess(ids, [channel])).extra).toEqual([{ status: 'halted' }]);
    // Read once, left out while kept, read again once expired: each time in the authentication's own call.
    expect(asked).toEqual([['CHANNEL#demo-av'], [], ['CHANNEL#demo-av']]);
  });

  it('keep a release that exists for good, and one that does not never', async () => {
    const records = new Map<string, Item>();
    const { store, asked } = storeOf(records);
    let now = 0;
    const cached = withCachedExtras(store, releaseRecordsPolicy(5_000), () => now);
    expect((await cached.readAccess(ids, [release])).extra).toEqual([undefined]);
    records.set(`${release.pk}|${release.sk}`, { version: '1.1.0' });
    expect((await cached.readAccess(ids, [release])).extra).toEqual([{ version: '1.1.0' }]);
    now = 86_400_000;
    expect((await cached.readAccess(ids, [release])).extra).toEqual([{ version: '1.1.0' }]);
    expect(asked).toEqual([['RELEASE#demo-av'], ['RELEASE#demo-av'], []]);
  });

  it('keep nothing at channelCacheSeconds 0, and never an agent\'s, license\'s or computer\'s record', async () => {
    const { store, asked } = storeOf(new Map());
    const cached = withCachedExtras(store, releaseRecordsPolicy(0), () => 0);
    await cached.readAccess(ids, [channel, { pk: 'AGENT#a', sk: 'AGENT' }]);
    await cached.readAccess(ids, [channel, { pk: 'AGENT#a', sk: 'AGENT' }]);
    expect(asked).toEqual([['CHANNEL#demo-av', 'AGENT#a'], ['CHANNEL#demo-av', 'AGENT#a']]);
  });
});
