/**
 * Where each licensing record lives in the main table (see docs/data-model.md). One
 * place for the key scheme, so the store, the admin code and the tests agree.
 */
export const licenseKey = (licenseId: string) => ({ pk: `LICENSE#${licenseId}`, sk: 'LICENSE' });
export const agentKey = (agentId: string) => ({ pk: `AGENT#${agentId}`, sk: 'AGENT' });
export const blacklistKey = (machineHash: string) => ({ pk: `MACHINE#${machineHash}`, sk: 'BLACKLIST' });

/**
 * Every blacklist entry also sits in one gsi1 partition, sorted by machine hash, so "the
 * whole blacklist" (what a mirror's lease carries) is one paginated query. One partition
 * is fine: entries change by hand, a few a day, far below a partition's write rate.
 * Entries written before these keys existed are not in it (docs/data-model.md).
 */
export const BLACKLIST_PARTITION = 'BLACKLIST';
export const blacklistIndexKeys = (machineHash: string) => ({ gsi1pk: BLACKLIST_PARTITION, gsi1sk: machineHash });

/**
 * The sparse index of seat holders: only active agents carry gsi1 attributes, sorted
 * by last-seen time, so "the license's seat holders, least recently seen first" is one
 * query and a released seat drops out of the index by itself.
 */
export const seatIndexKeys = (licenseId: string, lastSeenAt: string, agentId: string) => ({
  gsi1pk: `SEATS#${licenseId}`,
  gsi1sk: `${lastSeenAt}#${agentId}`,
});
/**
 * Every license also sits in one gsi1 partition, newest first by creation time, so the
 * operator console lists licenses a page at a time. One partition is fine: licenses are
 * created by hand. Licenses created before these keys existed are not listed (they are
 * still shown by id: `signet license show`).
 */
export const LICENSES_PARTITION = 'LICENSES';
export const licenseIndexKeys = (createdAt: string, licenseId: string) => ({ gsi1pk: LICENSES_PARTITION, gsi1sk: `${createdAt}#${licenseId}` });

export const seatIndexPartition = (licenseId: string) => `SEATS#${licenseId}`;

/**
 * A site mirror: the seats it holds under its license and its lease's expiry
 * (docs/data-model.md, "Mirrors hold seats as agents do"). The mirror id belongs to the
 * first license that leased it, forever.
 */
export const mirrorKey = (mirrorId: string) => ({ pk: `MIRROR#${mirrorId}`, sk: 'MIRROR' });

/**
 * The last report a mirror relayed for one of its agents and one product, in the mirror's
 * partition: agents behind a mirror have no agent record upstream, so this item is what
 * moves them between versions in the fleet counters (and what a relayed report repeated
 * is checked against).
 */
export const relayedAgentKey = (mirrorId: string, product: string, agentId: string) => ({ pk: `MIRROR#${mirrorId}`, sk: `AGENT#${product}#${agentId}` });

/**
 * How many of a mirror's relayed agents of one product count now: at most the mirror's
 * seats, so a mirror's reports weigh as those of the agents it can register and no more
 * (docs/data-model.md, "Relayed reports"). Moved in the transaction that gives an agent
 * its slot, or frees a silent one's.
 */
export const relayedSlotsKey = (mirrorId: string, product: string) => ({ pk: `MIRROR#${mirrorId}`, sk: `SLOTS#${product}` });

/**
 * The sparse index of a mirror's relayed agents that hold a slot, least recently relayed
 * first: the slot of one silent longer than the license allows is the one reclaimed.
 */
export const relayedSlotIndexPartition = (mirrorId: string, product: string) => `RELAYED#${mirrorId}#${product}`;
export const relayedSlotIndexKeys = (mirrorId: string, product: string, relayedAt: string, agentId: string) => ({
  gsi1pk: relayedSlotIndexPartition(mirrorId, product),
  gsi1sk: `${relayedAt}#${agentId}`,
});

/**
 * The sparse index of mirrors that hold seats: only a mirror with seats carries gsi1
 * attributes, sorted by its lease's expiry, so "the license's mirror whose lease ended
 * longest ago" is one query (a reclaim candidate, like a silent agent).
 */
export const mirrorIndexPartition = (licenseId: string) => `MIRRORS#${licenseId}`;
export const mirrorIndexKeys = (licenseId: string, leaseExpiresAt: string, mirrorId: string) => ({
  gsi1pk: mirrorIndexPartition(licenseId),
  gsi1sk: `${leaseExpiresAt}#${mirrorId}`,
});
