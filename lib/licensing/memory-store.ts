/**
 * The licensing store in one process's memory: what a site mirror answers agents from
 * (under its lease, written through to a file after each change), and what the use
 * cases' unit tests run on. It keeps the rules the DynamoDB store enforces with
 * conditions: a seat only below the license's seats and never for a blacklisted
 * computer, a status change only from the status read, a token rotation only over the
 * token read. Each check-and-change runs without an await in between, so it is atomic in
 * the process; one process serves a mirror's data dir.
 */
import type { Item, Key, TransactionOutcome } from '#lib/aws/table.ts';
import { itemId } from '#lib/aws/table.ts';
import type { Agent, AgentStatus, License, MirrorRecord } from './model.ts';
import type { RegistrationStore } from './register.ts';
import type { LicensingStore } from './store.ts';

const refused = (...failed: number[]): TransactionOutcome => ({ ok: false, failed, conflict: false });

export interface MemoryLicensingOptions {
  /** Records of other modules read with an agent's authentication (channels, releases), by key. */
  readonly others?: (key: Key) => Item | undefined;
  /**
   * Runs after each change, before the change is answered (a mirror writes its agents file
   * here). `urgent` is false for a last-seen time only, which may be written later.
   */
  readonly persist?: (agents: ReadonlyMap<string, Agent>, urgent: boolean) => Promise<void>;
  /** Runs before every read that decides access (a mirror refuses here once its lease has expired). */
  readonly guard?: () => void;
}

export class MemoryLicensingStore implements RegistrationStore, Pick<LicensingStore, 'getAgent' | 'readMirror' | 'assignMirrorSeats' | 'blacklistedMachines'> {
  readonly licenses = new Map<string, License>();
  readonly agents = new Map<string, Agent>();
  readonly blacklisted = new Set<string>();
  /** Seats held by site mirrors under a license (the service's; a mirror's own store has none: chained mirrors lease from the service). */
  readonly mirrors = new Map<string, MirrorRecord>();
  private readonly ownOthers = new Map<string, Item>();

  constructor(private readonly options: MemoryLicensingOptions = {}) {}

  async readAccess(ids: { licenseId: string; agentId: string; machineHash: string }, extra: readonly Key[] = []) {
    this.options.guard?.();
    return {
      ...(this.licenses.has(ids.licenseId) && { license: this.licenses.get(ids.licenseId) }),
      ...(this.agents.has(ids.agentId) && { agent: this.agents.get(ids.agentId) }),
      blacklisted: this.blacklisted.has(ids.machineHash),
      extra: extra.map((key) => this.ownOthers.get(itemId(key)) ?? this.options.others?.(key)),
    };
  }

  async getLicense(licenseId: string) {
    return this.licenses.get(licenseId);
  }

  async getAgent(agentId: string) {
    return this.agents.get(agentId);
  }

  /** Active agents holding a seat of `licenseId`. */
  seatsUsed(licenseId: string): number {
    let used = 0;
    for (const agent of this.agents.values()) if (agent.licenseId === licenseId && agent.status === 'active') used++;
    return used;
  }

  private serves(license: License | undefined, product: string, keyHash: string, now: Date): license is License {
    return license !== undefined && license.status === 'active' && Date.parse(license.expiresAt) > now.getTime() && license.products.includes(product) && license.keyHash === keyHash;
  }

  private async changed(urgent = true): Promise<void> {
    await this.options.persist?.(this.agents, urgent);
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
    await this.changed();
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
    await this.changed();
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
    await this.changed();
    return { ok: true };
  }

  async touch(agent: Agent, now: Date) {
    const current = this.agents.get(agent.agentId);
    if (current?.status !== 'active') return;
    this.agents.set(agent.agentId, { ...current, lastSeenAt: now.toISOString() });
    await this.changed(false);
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

  /** Puts a record of another module (a channel, a release) where authentication reads it. */
  putOther(key: Key, record: object): void {
    this.ownOthers.set(itemId(key), { ...key, ...record });
  }
}
