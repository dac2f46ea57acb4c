/**
 * Records read along with an agent's authentication, kept in the container for a while:
 * every manifest and report reads its product's channel (and a report its release), and
 * at 10 M agents those few items take more reads a second than a partition serves
 * (docs/scale.md). The agent's own item, its license and its computer's blacklist entry are
 * never cached: a revocation, a suspension or a blacklisting holds on the very next call.
 *
 * A record cached is left out of the next reads' BatchGetItem; one not cached, or expired,
 * is read in that same round trip, as before, and kept. So the cache adds no round trip,
 * and a container reads each cached record at most once per its lifetime.
 */
import type { Item, Key } from '#lib/aws/table.ts';
import { itemId } from '#lib/aws/table.ts';
import type { AccessStore } from './authenticate.ts';

/** How long a record may be kept: milliseconds, `Infinity` for one that never changes once written, undefined for never. */
export type CachePolicy = (key: Key, item: Item | undefined) => number | undefined;

/** Records kept at most; past it the cache starts again empty (a product has a handful of channels and releases). */
const MAX_ENTRIES = 1_000;

export function withCachedExtras(store: AccessStore, policy: CachePolicy, clock: () => number = Date.now): AccessStore {
  const kept = new Map<string, { item: Item | undefined; until: number }>();
  return {
    touch: (agent, now) => store.touch(agent, now),
    async readAccess(ids, extra = []) {
      const now = clock();
      const fresh = (key: Key) => {
        const entry = kept.get(itemId(key));
        return entry && entry.until > now ? entry : undefined;
      };
      const toRead = extra.filter((key) => !fresh(key));
      const read = await store.readAccess(ids, toRead);
      const readItems = new Map(toRead.map((key, i) => [itemId(key), read.extra[i]]));
      for (const key of toRead) {
        const item = readItems.get(itemId(key));
        const ttl = policy(key, item);
        if (ttl === undefined) continue;
        if (kept.size >= MAX_ENTRIES) kept.clear();
        kept.set(itemId(key), { item, until: now + ttl });
      }
      return { ...read, extra: extra.map((key) => (readItems.has(itemId(key)) ? readItems.get(itemId(key)) : fresh(key)?.item)) };
    },
  };
}
