/**
 * The licensing a mirror answers agents with: the service's own use cases (registration,
 * manifest, reports) on the in-memory licensing store, fed by the signed lease (license,
 * seats assigned to this mirror, blacklist, channels) and by what the mirror holds
 * (released versions). Agents are written through to agents.json; their reports queue in
 * reports.jsonl until the upstream takes them.
 */
import { appendFile, readFile, rm } from 'node:fs/promises';
import type { Item } from '#lib/aws/table.ts';
import { itemId } from '#lib/aws/table.ts';
import { LeaseExpired, Unavailable } from '#lib/errors.ts';
import { relayedReport } from '#lib/delivery/requests.ts';
import { writeFileAtomic } from '#lib/files.ts';
import { parseWith } from '#lib/http/body.ts';
import { MemoryLicensingStore } from '#lib/licensing/memory-store.ts';
import type { Agent, License } from '#lib/licensing/model.ts';
import type { LeasePayload } from '#lib/mirror/lease.ts';
import type { ChannelStore } from '#lib/releases/channels.ts';
import { channelKey, releaseKey } from '#lib/releases/store.ts';
import type { Served } from './state.ts';
import { paths } from './state.ts';

/** A report from an agent behind the mirror, as it is sent upstream: the service's relay type. */
export type { RelayedReport } from '#lib/delivery/relay.ts';
import type { RelayedReport } from '#lib/delivery/relay.ts';

/** The upstream's refusals of a lease that say the license itself no longer serves. */
export const WITHDRAWING_CODES = ['LICENSE_INVALID', 'LICENSE_REVOKED', 'LICENSE_SUSPENDED', 'LICENSE_EXPIRED'] as const;
export type WithdrawingCode = (typeof WITHDRAWING_CODES)[number];

/** The upstream refused to renew the lease because of the license's state: answered here as upstream, until it leases again. */
export interface Withdrawal {
  readonly code: WithdrawingCode;
  readonly at: string;
}

/** How long a last-seen time may wait for its write. */
const LAST_SEEN_FLUSH_MS = 10_000;

export class MirrorLicensing {
  readonly store: MemoryLicensingStore;
  private lease: LeasePayload | undefined;
  private withdrawal: Withdrawal | undefined;
  private served: Served | undefined;
  private records = new Map<string, Item>();
  private writes: Promise<void> = Promise.resolve();
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(private readonly dir: string) {
    this.store = new MemoryLicensingStore({
      others: (key) => this.records.get(itemId(key)),
      guard: () => this.guard(),
      persist: (_agents, urgent) => this.persist(urgent),
    });
  }

  /** Agents registered here, from agents.json, and a withdrawal the upstream said. */
  async load(): Promise<void> {
    this.withdrawal = JSON.parse(await readFile(paths(this.dir).withdrawn, 'utf8').catch(() => 'null')) ?? undefined;
    try {
      const agents = JSON.parse(await readFile(paths(this.dir).agents, 'utf8')) as Agent[];
      for (const agent of agents) this.store.agents.set(agent.agentId, agent);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  current(): LeasePayload | undefined {
    return this.lease;
  }

  /**
   * The upstream refused a lease for the license's state (suspended, revoked, expired, no
   * longer valid): agents here get that answer from now on, as they would upstream, and
   * after a restart too, until a lease is granted again. A suspension thus reaches agents
   * behind a mirror within one sync.
   */
  async withdraw(code: WithdrawingCode, now: Date): Promise<void> {
    this.withdrawal = { code, at: now.toISOString() };
    await writeFileAtomic(paths(this.dir).withdrawn, JSON.stringify(this.withdrawal));
    if (this.lease) this.apply(this.lease, this.served);
  }

  /** A lease was granted again (the caller applies it). */
  async reinstate(): Promise<void> {
    if (!this.withdrawal) return;
    this.withdrawal = undefined;
    await rm(paths(this.dir).withdrawn, { force: true });
  }

  withdrawn(): Withdrawal | undefined {
    return this.withdrawal;
  }

  /** Answers from a new lease (verified by the caller): the license with its seats here, the blacklist, the channels. */
  apply(lease: LeasePayload, served: Served | undefined): void {
    this.lease = lease;
    this.served = served;
    const withdrawn = this.withdrawal?.code;
    const license: License = {
      licenseId: lease.licenseId,
      keyHash: lease.keyHash,
      customer: lease.customer,
      products: lease.products,
      seats: lease.seats,
      seatsUsed: this.store.seatsUsed(lease.licenseId),
      status: withdrawn === 'LICENSE_REVOKED' ? 'revoked' : withdrawn === 'LICENSE_SUSPENDED' ? 'suspended' : lease.licenseStatus,
      // Past either, the mirror answers as the service would for an expired license or lease.
      expiresAt: withdrawn === 'LICENSE_EXPIRED' ? (this.withdrawal?.at ?? lease.licenseExpiresAt) : lease.licenseExpiresAt,
      reclaimAfterDays: lease.reclaimAfterDays,
      createdAt: lease.issuedAt,
      updatedAt: lease.issuedAt,
    };
    this.store.licenses.clear();
    // A license the upstream no longer knows: LICENSE_INVALID here too.
    if (withdrawn !== 'LICENSE_INVALID') this.store.licenses.set(license.licenseId, license);
    this.store.blacklisted.clear();
    for (const hash of lease.blacklist) this.store.blacklisted.add(hash);
    this.index(served);
  }

  /** The channels (from the lease) and the released versions the mirror holds, where authentication reads them. */
  index(served: Served | undefined): void {
    this.served = served;
    const records = new Map<string, Item>();
    for (const channel of this.lease?.channels ?? []) {
      const key = channelKey(channel.product, channel.channel);
      records.set(itemId(key), { ...key, ...channel });
    }
    for (const [product, versions] of Object.entries(served?.versions ?? {})) {
      for (const [version, setManifestPath] of Object.entries(versions)) {
        const key = releaseKey(product, version);
        records.set(itemId(key), { ...key, product, version, setManifestPath });
      }
    }
    this.records = records;
  }

  private guard(): void {
    if (!this.lease) throw new Unavailable('this mirror has no license lease yet: it gets one at its first sync (or import)', 60);
    if (Date.parse(this.lease.expiresAt) <= Date.now()) throw new LeaseExpired(this.lease.expiresAt);
  }

  /**
   * A seat taken or freed is on disk before it is answered; a last-seen time (every
   * manifest call) goes with the next write, or within LAST_SEEN_FLUSH_MS: a write per
   * poll would make the disk the limit of a mirror's manifest rate.
   */
  private persist(urgent: boolean): Promise<void> {
    if (!urgent) {
      this.flushTimer ??= setTimeout(() => void this.flush().catch(() => undefined), LAST_SEEN_FLUSH_MS).unref();
      return Promise.resolve();
    }
    return this.flush();
  }

  /** Writes the agents as they are now; one write at a time, in order: the file always holds a state the mirror answered from. */
  flush(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const snapshot = JSON.stringify([...this.store.agents.values()]);
    this.writes = this.writes.then(() => writeFileAtomic(paths(this.dir).agents, snapshot));
    return this.writes;
  }

  /**
   * The fleet a report is recorded in here: the queue to the upstream, each report checked
   * with the schema the upstream checks a relay with (it has passed the agents' one, the
   * same fields), so nothing queued is refused there. A full disk answers 503 (retry later),
   * which the agent honours. The mirror never halts a rollout itself: the service does,
   * from the reports.
   */
  fleet() {
    const file = paths(this.dir).reports;
    return {
      async record(input: { agentId: string; product: string; version: string; result: 'ok' | 'failed'; detail?: string; now: Date }): Promise<boolean> {
        const report: RelayedReport = parseWith(relayedReport, { agentId: input.agentId, product: input.product, installedVersion: input.version, result: input.result, ...(input.detail && { detail: input.detail }), at: input.now.toISOString() });
        await appendFile(file, `${JSON.stringify(report)}\n`, { mode: 0o600 }).catch((error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOSPC' || error.code === 'EDQUOT') throw new Unavailable('the mirror cannot queue reports: its disk is full', 300);
          throw error;
        });
        return true;
      },
      async counters() {
        return undefined;
      },
    };
  }

  /** Channels are the service's to change: a mirror never writes one. */
  channels(): ChannelStore {
    return {
      channel: async (product, channel) => this.lease?.channels.find((c) => c.product === product && c.channel === channel),
      putChannel: async () => false,
    };
  }
}
