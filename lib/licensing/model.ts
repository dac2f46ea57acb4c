/**
 * The licensing records and the rules over them, free of AWS: what a license allows,
 * and which contract code refuses what. The DynamoDB layout is in store.ts and
 * docs/data-model.md.
 */
import { AgentRevoked, LicenseExpired, LicenseInvalid, LicenseRevoked, LicenseSuspended, ProductNotEntitled } from '#lib/errors.ts';
import type { Refusal } from '#lib/errors.ts';

export type LicenseStatus = 'active' | 'suspended' | 'revoked';

export interface License {
  readonly licenseId: string;
  /** SHA-256 of the normalized key; the key itself is never stored. */
  readonly keyHash: string;
  readonly customer: string;
  readonly products: readonly string[];
  readonly seats: number;
  /** Active agents holding a seat; changed only in the same transaction as the agent. */
  readonly seatsUsed: number;
  readonly status: LicenseStatus;
  /** ISO 8601; the license stops working at this instant. */
  readonly expiresAt: string;
  /** An agent silent for longer than this gives its seat back when another machine needs it. */
  readonly reclaimAfterDays: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/**
 * `active` holds a seat. `revoked` (by an operator) and `reclaimed` (after a long silence)
 * gave it back; a revoked agent's computer may not register again until an operator
 * lifts the revocation, which makes it `unrevoked`: no seat, free to register again.
 */
export type AgentStatus = 'active' | 'revoked' | 'reclaimed' | 'unrevoked';

export interface Agent {
  readonly agentId: string;
  readonly licenseId: string;
  readonly machineId: string;
  readonly machineHash: string;
  readonly product: string;
  readonly os: string;
  readonly arch: string;
  readonly hostname?: string;
  readonly agentVersion?: string;
  readonly tokenHash: string;
  readonly status: AgentStatus;
  readonly registeredAt: string;
  readonly lastSeenAt: string;
  readonly installedVersion?: string;
  /** How installing `installedVersion` went, by the agent's last report (set with it). */
  readonly lastResult?: 'ok' | 'failed';
}

export interface BlacklistEntry {
  readonly machineHash: string;
  readonly machineId: string;
  readonly reason?: string;
  readonly addedAt: string;
  readonly addedBy: string;
}

/**
 * Why a license cannot serve a product now, as the contract code an agent acts on:
 * revoked is final, suspended and expired need the customer, not-entitled needs another
 * license. Checked in that order, so the most permanent reason wins.
 */
export function licenseRefusal(license: License | undefined, product: string, now: Date): Refusal | undefined {
  const refusal = licenseStateRefusal(license, now);
  if (refusal) return refusal;
  if (!license?.products.includes(product)) return new ProductNotEntitled(`the license does not entitle product "${product}"`);
  return undefined;
}

/** Why a license cannot serve at all now, whatever the product (a mirror serves all its products): the same codes, in the same order. */
export function licenseStateRefusal(license: License | undefined, now: Date): Refusal | undefined {
  if (!license) return new LicenseInvalid();
  if (license.status === 'revoked') return new LicenseRevoked();
  if (license.status === 'suspended') return new LicenseSuspended();
  if (Date.parse(license.expiresAt) <= now.getTime()) return new LicenseExpired(license.expiresAt);
  return undefined;
}

/**
 * Why the record already kept for this license, product and computer refuses a new
 * registration: only an operator's revocation does, until an operator lifts it. Any
 * other status (active, reclaimed, unrevoked, none) may register.
 */
export function registrationRefusal(agent: Pick<Agent, 'agentId' | 'status'> | undefined): Refusal | undefined {
  return agent?.status === 'revoked' ? new AgentRevoked(agent.agentId) : undefined;
}

/** The status changes an operator may make, and from where. Revoked is final. */
export const licenseTransitions: Record<'suspend' | 'resume' | 'revoke', { from: readonly LicenseStatus[]; to: LicenseStatus }> = {
  suspend: { from: ['active'], to: 'suspended' },
  resume: { from: ['suspended'], to: 'active' },
  revoke: { from: ['active', 'suspended'], to: 'revoked' },
};

/** Whether an agent's seat may be reclaimed: active, and silent longer than the license allows. */
export function isReclaimable(agent: Pick<Agent, 'status' | 'lastSeenAt'>, license: Pick<License, 'reclaimAfterDays'>, now: Date): boolean {
  return agent.status === 'active' && Date.parse(agent.lastSeenAt) < now.getTime() - license.reclaimAfterDays * 86_400_000;
}

/**
 * A site mirror as the service keeps it: the seats it holds out of its license's (counted
 * in the license's `seatsUsed` with the agents') and its lease's expiry. The record stays
 * when its seats go to 0: a mirror id belongs to the license that first leased it.
 */
export interface MirrorRecord {
  readonly mirrorId: string;
  readonly licenseId: string;
  readonly seats: number;
  /** The last lease issued: the mirror serves agents until then (ISO 8601). */
  readonly leaseExpiresAt: string;
  readonly leasedAt: string;
  readonly createdAt: string;
  /** Set when its seats were reclaimed after its lease had long expired. */
  readonly reclaimedAt?: string;
  /** Moves with every change: a write goes through only over the revision read. */
  readonly revision: number;
}

/** Whether a mirror's seats may be reclaimed: it holds some, and its lease ended longer ago than the license allows an agent to be silent. */
export function isMirrorReclaimable(mirror: Pick<MirrorRecord, 'seats' | 'leaseExpiresAt'>, license: Pick<License, 'reclaimAfterDays'>, now: Date): boolean {
  return mirror.seats > 0 && Date.parse(mirror.leaseExpiresAt) < now.getTime() - license.reclaimAfterDays * 86_400_000;
}

/** When a lease asked for `validDays` at `now` expires: then, or when the license does if sooner. */
export function leaseExpiry(license: Pick<License, 'expiresAt'>, validDays: number, now: Date): Date {
  return new Date(Math.min(now.getTime() + validDays * 86_400_000, Date.parse(license.expiresAt)));
}

/** Last-seen is written at most this often per agent, so a poll does not cost a write. */
export const LAST_SEEN_RESOLUTION_MS = 60 * 60 * 1000;
