/**
 * In-memory stand-ins for the stores the use cases depend on, for unit tests without
 * DynamoDB. They keep the rules the real stores enforce with conditions (a seat only
 * below the license's seats, a status change only from the status read, a channel only
 * over the revision read), so a use case that relies on them is tested against them; the
 * integration tests run the same use cases against DynamoDB Local. The licensing one is
 * the store a site mirror runs on.
 */
import type { LastReport, RelayedAgent, RelayedOutcome, RelayedRecord, VersionCounters } from '#lib/delivery/fleet.ts';
import { counterDeltas } from '#lib/delivery/fleet.ts';
import { MemoryLicensingStore } from '#lib/licensing/memory-store.ts';
import type { Channel, Release, ReleaseStore } from '#lib/releases/store.ts';
import { channelKey, releaseKey } from '#lib/releases/store.ts';

/** The in-memory licensing store (lib/licensing/memory-store.ts), with helpers to put other modules' records. */
export class FakeLicensingStore extends MemoryLicensingStore {
  putChannel(channel: Channel): void {
    this.putOther(channelKey(channel.product, channel.channel), channel);
  }

  putRelease(release: Pick<Release, 'product' | 'version' | 'setManifestPath'>): void {
    this.putOther(releaseKey(release.product, release.version), release);
  }
}

export class FakeChannels implements Pick<ReleaseStore, 'channel' | 'putChannel' | 'release'> {
  readonly channels = new Map<string, Channel>();
  readonly releases = new Map<string, Release>();

  async channel(product: string, channel: string) {
    return this.channels.get(`${product}/${channel}`);
  }

  async putChannel(next: Channel, expectedRevision: number | undefined): Promise<boolean> {
    const current = this.channels.get(`${next.product}/${next.channel}`);
    if (current?.revision !== expectedRevision) return false;
    this.channels.set(`${next.product}/${next.channel}`, next);
    return true;
  }

  async release(product: string, version: string) {
    return this.releases.get(`${product}/${version}`);
  }

  /** As ReleaseStore's releases and channels listing (`channels(product)`), over these maps. */
  get listing(): Pick<ReleaseStore, 'release' | 'channels'> {
    return {
      release: async (product, version) => this.releases.get(`${product}/${version}`),
      channels: async (product) => [...this.channels.values()].filter((c) => c.product === product),
    };
  }
}

export class FakeFleet {
  readonly counters_ = new Map<string, VersionCounters>();
  readonly lastReports = new Map<string, { version: string; result: 'ok' | 'failed' }>();

  /**
   * As FleetStore.record, the counters moved by the agent's change from the last report
   * held here (the licensing fake does not keep it in the agent's record, so the caller's
   * `previous` is not compared).
   */
  async record(input: { agentId: string; product: string; previous: LastReport | undefined; version: string; result: 'ok' | 'failed' }): Promise<boolean> {
    this.count(input.product, this.lastReports.get(input.agentId), { version: input.version, result: input.result });
    this.lastReports.set(input.agentId, { version: input.version, result: input.result });
    return true;
  }

  private count(product: string, previous: LastReport | undefined, next: LastReport): void {
    for (const { version, add } of counterDeltas(previous, next)) {
      const counters = this.counters_.get(`${product}/${version}`) ?? { version, agents: 0, ok: 0, failed: 0 };
      this.counters_.set(`${product}/${version}`, { ...counters, agents: counters.agents + (add.agents ?? 0), ok: counters.ok + (add.ok ?? 0), failed: counters.failed + (add.failed ?? 0) });
    }
  }

  /** Relayed agents' last reports, by `mirrorId/product/agentId`. */
  readonly relayed = new Map<string, RelayedAgent>();
  /** Slots taken, by `mirrorId/product`. */
  readonly slots = new Map<string, number>();

  /** As FleetStore.recordRelayed: only over the version read, only a newer report, a slot taken only below the seats, counters moved with it. */
  async recordRelayed(input: RelayedRecord): Promise<RelayedOutcome> {
    const key = `${input.mirrorId}/${input.product}/${input.agentId}`;
    const slotsKey = `${input.mirrorId}/${input.product}`;
    const current = this.relayed.get(key);
    if (current && current.lastReportAt >= input.at) return 'stale';
    if (current?.installedVersion !== input.previous?.version || current?.lastResult !== input.previous?.result || (current?.holdsSlot ?? false) !== input.holdsSlot) return 'lost';
    if (!input.holdsSlot) {
      if ((this.slots.get(slotsKey) ?? 0) >= input.seats) return 'full';
      this.slots.set(slotsKey, (this.slots.get(slotsKey) ?? 0) + 1);
    }
    const { version, product, result } = input;
    this.count(product, input.previous, { version, result });
    this.relayed.set(key, {
      mirrorId: input.mirrorId,
      licenseId: input.licenseId,
      agentId: input.agentId,
      product,
      installedVersion: version,
      lastResult: result,
      ...(input.detail !== undefined && { lastDetail: input.detail }),
      lastReportAt: input.at,
      relayedAt: input.now.toISOString(),
      holdsSlot: true,
    });
    return 'recorded';
  }

  /** As FleetStore.reclaimRelayedSlot: the least recently relayed holder's slot, if it was relayed before `silentBefore`. */
  async reclaimRelayedSlot(mirrorId: string, product: string, silentBefore: string): Promise<boolean> {
    const holders = [...this.relayed.values()].filter((a) => a.mirrorId === mirrorId && a.product === product && a.holdsSlot).sort((a, b) => a.relayedAt.localeCompare(b.relayedAt));
    const oldest = holders[0];
    if (!oldest || !(oldest.relayedAt < silentBefore)) return false;
    this.relayed.set(`${mirrorId}/${product}/${oldest.agentId}`, { ...oldest, holdsSlot: false });
    this.slots.set(`${mirrorId}/${product}`, (this.slots.get(`${mirrorId}/${product}`) ?? 1) - 1);
    return true;
  }

  async relayedAgent(mirrorId: string, product: string, agentId: string) {
    return this.relayed.get(`${mirrorId}/${product}/${agentId}`);
  }

  async counters(product: string, version: string) {
    return this.counters_.get(`${product}/${version}`);
  }
}
