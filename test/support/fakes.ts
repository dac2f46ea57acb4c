/**
 * In-memory stand-ins for the stores the use cases depend on, for unit tests without
 * DynamoDB. They keep the rules the real stores enforce with conditions (a seat only
 * below the license's seats, a status change only from the status read, a channel only
 * over the revision read), so a use case that relies on them is tested against them; the
 * integration tests run the same use cases against DynamoDB Local.
 */
import type { Item, Key, TransactionOutcome } from '#lib/aws/table.ts';
import { itemId } from '#lib/aws/table.ts';
import type { RelayedAgent, RelayedRecord, VersionCounters } from '#lib/delivery/fleet.ts';
import type { Agent, AgentStatus, License, MirrorRecord } from '#lib/licensing/model.ts';
import type { RegistrationStore } from '#lib/licensing/register.ts';
import type { LicensingStore } from '#lib/licensing/store.ts';
import type { Channel, Release, ReleaseStore } from '#lib/releases/store.ts';
import { channelKey, releaseKey } from '#lib/releases/store.ts';

const refused = (...failed: number[]): TransactionOutcome => ({ ok: false, failed, conflict: false });

export class FakeLicensingStore implements RegistrationStore, Pick<LicensingStore, 'getAgent'> {
  readonly licenses = new Map<string, License>();
  readonly agents = new Map<string, Agent>();
  readonly blacklisted = new Set<string>();
  readonly mirrors = new Map<string, MirrorRecord>();
  /** Other modules' records, read with an agent's authentication (channels, releases). */
  readonly others = new Map<string, Item>();
  touches = 0;

  async readAccess(ids: { licenseId: string; agentId: string; machineHash: string }, extra: readonly Key[] = []) {
    return {
      ...(this.licenses.has(ids.licenseId) && { license: this.licenses.get(ids.licenseId) }),
      ...(this.agents.has(ids.agentId) && { agent: this.agents.get(ids.agentId) }),
      blacklisted: this.blacklisted.has(ids.machineHash),
      extra: extra.map((key) => this.others.get(itemId(key))),
    };
  }

  async getLicense(licenseId: string) {
    return this.licenses.get(licenseId);
  }

  async getAgent(agentId: string) {
    return this.agents.get(agentId);
  }

  private serves(license: License | undefined, product: string, keyHash: string, now: Date): license is License {
    return license !== undefined && license.status === 'active' && Date.parse(license.expiresAt) > now.getTime() && license.products.includes(product) && license.keyHash === keyHash;
  }

  async takeSeat(input: { agent: Agent; previousStatus: AgentStatus | undefined; keyHash: string; now: Date }): Promise<TransactionOutcome> {
    const { agent, previousStatus, keyHash, now } = input;
    const license = this.licenses.get(agent.licenseId);
    const failed: number[] = [];
    if (!this.serves(license, agent.product, keyHash, now) || license.seatsUsed >= license.seats) failed.push(0);
    if (this.agents.get(agent.agentId)?.status !== previousStatus) failed.push(1);
    if (this.blacklisted.has(agent.machineHash)) failed.push(2);
    if (failed.length > 0 || !license) return refused(...failed);
    this.licenses.set(license.licenseId, { ...license, seatsUsed: license.seatsUsed + 1 });
    this.agents.set(agent.agentId, agent);
    return { ok: true };
  }

  async rotateToken(input: { agent: Agent; previousTokenHash: string; keyHash: string; now: Date }): Promise<TransactionOutcome> {
    const { agent, previousTokenHash, keyHash, now } = input;
    const current = this.agents.get(agent.agentId);
    const failed: number[] = [];
    if (!this.serves(this.licenses.get(agent.licenseId), agent.product, keyHash, now)) failed.push(0);
    if (current?.status !== 'active' || current.tokenHash !== previousTokenHash) failed.push(1);
    if (this.blacklisted.has(agent.machineHash)) failed.push(2);
    if (failed.length > 0) return refused(...failed);
    this.agents.set(agent.agentId, agent);
    return { ok: true };
  }

  async seatHolders(licenseId: string, limit: number) {
    return [...this.agents.values()]
      .filter((a) => a.licenseId === licenseId && a.status === 'active')
      .sort((x, y) => x.lastSeenAt.localeCompare(y.lastSeenAt))
      .slice(0, limit);
  }

  async releaseSeat(input: { agentId: string; licenseId: string; status: 'revoked' | 'reclaimed'; now: Date; silentBefore?: string }): Promise<TransactionOutcome> {
    const agent = this.agents.get(input.agentId);
    const license = this.licenses.get(input.licenseId);
    if (agent?.status !== 'active' || (input.silentBefore !== undefined && agent.lastSeenAt >= input.silentBefore)) return refused(0);
    if (!license || license.seatsUsed <= 0) return refused(1);
    this.agents.set(agent.agentId, { ...agent, status: input.status });
    this.licenses.set(license.licenseId, { ...license, seatsUsed: license.seatsUsed - 1 });
    return { ok: true };
  }

  async readMirror(licenseId: string, mirrorId: string) {
    return {
      ...(this.licenses.has(licenseId) && { license: this.licenses.get(licenseId) }),
      ...(this.mirrors.has(mirrorId) && { mirror: this.mirrors.get(mirrorId) }),
    };
  }

  async assignMirrorSeats(input: { next: MirrorRecord; previous: MirrorRecord | undefined; licenseSeats: number; keyHash: string; now: Date }): Promise<TransactionOutcome> {
    const { next, previous, licenseSeats, keyHash, now } = input;
    const license = this.licenses.get(next.licenseId);
    const delta = next.seats - (previous?.seats ?? 0);
    const current = this.mirrors.get(next.mirrorId);
    const failed: number[] = [];
    const serves = license !== undefined && license.status === 'active' && Date.parse(license.expiresAt) > now.getTime() && license.keyHash === keyHash;
    if (!serves || (delta > 0 && (license.seats !== licenseSeats || license.seatsUsed + delta > license.seats)) || (delta < 0 && license.seatsUsed < -delta)) failed.push(0);
    if (previous === undefined ? current !== undefined : current?.licenseId !== previous.licenseId || current.revision !== previous.revision) failed.push(1);
    if (failed.length > 0 || !license) return refused(...failed);
    this.licenses.set(license.licenseId, { ...license, seatsUsed: license.seatsUsed + delta });
    this.mirrors.set(next.mirrorId, next);
    return { ok: true };
  }

  async mirrorsHoldingSeats(licenseId: string, limit: number) {
    return [...this.mirrors.values()]
      .filter((m) => m.licenseId === licenseId && m.seats > 0)
      .sort((x, y) => x.leaseExpiresAt.localeCompare(y.leaseExpiresAt))
      .slice(0, limit);
  }

  async reclaimMirrorSeats(input: { mirror: MirrorRecord; expiredBefore: string; now: Date }): Promise<TransactionOutcome> {
    const { mirror, expiredBefore, now } = input;
    const current = this.mirrors.get(mirror.mirrorId);
    const license = this.licenses.get(mirror.licenseId);
    if (!current || current.revision !== mirror.revision || current.seats !== mirror.seats || current.leaseExpiresAt >= expiredBefore) return refused(0);
    if (!license || license.seatsUsed < mirror.seats) return refused(1);
    this.mirrors.set(mirror.mirrorId, { ...current, seats: 0, reclaimedAt: now.toISOString(), revision: current.revision + 1 });
    this.licenses.set(license.licenseId, { ...license, seatsUsed: license.seatsUsed - mirror.seats });
    return { ok: true };
  }

  async blacklistedMachines() {
    return [...this.blacklisted].sort();
  }

  async touch(agent: Agent, now: Date) {
    this.touches++;
    const current = this.agents.get(agent.agentId);
    if (current?.status === 'active') this.agents.set(agent.agentId, { ...current, lastSeenAt: now.toISOString() });
  }

  /** Puts a channel or a release where an agent's authentication reads it. */
  putOther(key: Key, record: object): void {
    this.others.set(itemId(key), { ...key, ...record });
  }

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

  async record(input: { agentId: string; product: string; previousVersion: string | undefined; version: string; result: 'ok' | 'failed' }): Promise<boolean> {
    const key = `${input.product}/${input.version}`;
    const counters = this.counters_.get(key) ?? { version: input.version, agents: 0, ok: 0, failed: 0 };
    this.counters_.set(key, { ...counters, [input.result]: counters[input.result] + 1, agents: counters.agents + (input.previousVersion === input.version ? 0 : 1) });
    this.lastReports.set(input.agentId, { version: input.version, result: input.result });
    return true;
  }

  /** Relayed agents' last reports, by `mirrorId/product/agentId`. */
  readonly relayed = new Map<string, RelayedAgent>();

  /** As FleetStore.recordRelayed: only over the version read, only a newer report, counters moved with it. */
  async recordRelayed(input: RelayedRecord): Promise<'recorded' | 'stale' | 'lost'> {
    const key = `${input.mirrorId}/${input.product}/${input.agentId}`;
    const current = this.relayed.get(key);
    if (current && current.lastReportAt >= input.at) return 'stale';
    if (current?.installedVersion !== input.previousVersion) return 'lost';
    const { previousVersion, version, product, result } = input;
    const counters = this.counters_.get(`${product}/${version}`) ?? { version, agents: 0, ok: 0, failed: 0 };
    this.counters_.set(`${product}/${version}`, { ...counters, [result]: counters[result] + 1, agents: counters.agents + (previousVersion === version ? 0 : 1) });
    if (previousVersion !== undefined && previousVersion !== version) {
      const before = this.counters_.get(`${product}/${previousVersion}`);
      if (before) this.counters_.set(`${product}/${previousVersion}`, { ...before, agents: before.agents - 1 });
    }
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
    });
    return 'recorded';
  }

  async relayedAgent(mirrorId: string, product: string, agentId: string) {
    return this.relayed.get(`${mirrorId}/${product}/${agentId}`);
  }

  async counters(product: string, version: string) {
    return this.counters_.get(`${product}/${version}`);
  }
}
