/** What operators do to licenses, agents and the blacklist; each change is audited in its own transaction. */
import { Conflict, InvalidRequest, NotFound } from '#lib/errors.ts';
import type { Agent, License } from './model.ts';
import { licenseTransitions } from './model.ts';
import { expiryInstant } from './requests.ts';
import { licenseIdOf, licenseKeyHash, machineHashOf, newLicenseKey } from './secrets.ts';
import type { LicensingStore } from './store.ts';

/** A license as shown to operators: everything but the key's hash. */
export type LicenseView = Omit<License, 'keyHash'>;

export function viewOf(license: License): LicenseView {
  const { keyHash: _keyHash, ...view } = license;
  return view;
}

export function agentView(agent: Agent) {
  const { tokenHash: _tokenHash, machineHash: _machineHash, ...view } = agent;
  return view;
}

const DEFAULT_RECLAIM_AFTER_DAYS = 30;

export async function createLicense(
  store: LicensingStore,
  input: { customer: string; products: readonly string[]; seats: number; expires: string; reclaimAfterDays?: number },
  actor: string,
  now: Date,
): Promise<{ licenseKey: string; license: LicenseView }> {
  const expiresAt = expiryInstant(input.expires);
  if (!expiresAt) throw new InvalidRequest('expires', 'is not a valid date');
  if (expiresAt.getTime() <= now.getTime()) throw new InvalidRequest('expires', 'must be in the future');
  const licenseKey = newLicenseKey();
  const license: License = {
    licenseId: licenseIdOf(licenseKey),
    keyHash: licenseKeyHash(licenseKey),
    customer: input.customer,
    products: [...new Set(input.products)],
    seats: input.seats,
    seatsUsed: 0,
    status: 'active',
    expiresAt: expiresAt.toISOString(),
    reclaimAfterDays: input.reclaimAfterDays ?? DEFAULT_RECLAIM_AFTER_DAYS,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
  };
  const outcome = await store.createLicense(
    license,
    { actor, action: 'license.create', subject: license.licenseId, detail: { customer: license.customer, products: license.products, seats: license.seats, expiresAt: license.expiresAt } },
    now,
  );
  // 160 random bits do not collide; a failure here is a retried request that already wrote.
  if (!outcome.ok) throw new Conflict('a license with this id exists already; create it again');
  return { licenseKey, license: viewOf(license) };
}

async function requireLicense(store: Pick<LicensingStore, 'getLicense'>, licenseId: string): Promise<License> {
  const license = await store.getLicense(licenseId);
  if (!license) throw new NotFound(`no license ${licenseId}`);
  return license;
}

export async function showLicense(store: LicensingStore, licenseId: string) {
  const license = await requireLicense(store, licenseId);
  const [holders, mirrors] = await Promise.all([store.seatHolders(licenseId, 100), store.mirrorsHoldingSeats(licenseId, 100)]);
  return {
    license: viewOf(license),
    seatHolders: holders.map(agentView),
    // Site mirrors hold seats too (seatsUsed counts them with the agents), the lease that ended longest ago first.
    mirrors: mirrors.map(({ mirrorId, seats, leaseExpiresAt, leasedAt }) => ({ mirrorId, seats, leaseExpiresAt, leasedAt })),
  };
}

/** How a list route is asked for a page: its size and where the last page ended. */
export interface PageRequest {
  readonly limit: number;
  readonly cursor?: string;
}

/** A page of licenses, newest first, as operators see them. */
export async function listLicenses(store: Pick<LicensingStore, 'licensePage'>, page: PageRequest) {
  const { items, nextCursor } = await store.licensePage(page.limit, page.cursor);
  return { licenses: items.map(viewOf), ...(nextCursor && { nextCursor }) };
}

/** A page of a license's seat holders, least recently seen first; 404 for a license that does not exist. */
export async function listSeatHolders(store: Pick<LicensingStore, 'getLicense' | 'seatHolderPage'>, licenseId: string, page: PageRequest) {
  await requireLicense(store, licenseId);
  const { items, nextCursor } = await store.seatHolderPage(licenseId, page.limit, page.cursor);
  return { agents: items.map(agentView), ...(nextCursor && { nextCursor }) };
}

/** A page of the blacklist: each computer's id, why, when and by whom (the hash stays inside). */
export async function listBlacklist(store: Pick<LicensingStore, 'blacklistPage'>, page: PageRequest) {
  const { items, nextCursor } = await store.blacklistPage(page.limit, page.cursor);
  const entries = items.map(({ machineId, reason, addedAt, addedBy }) => ({ machineId, ...(reason !== undefined && { reason }), addedAt, addedBy }));
  return { entries, ...(nextCursor && { nextCursor }) };
}

export async function changeLicenseStatus(
  store: LicensingStore,
  licenseId: string,
  action: keyof typeof licenseTransitions,
  actor: string,
  now: Date,
): Promise<LicenseView> {
  const { from, to } = licenseTransitions[action];
  const outcome = await store.setLicenseStatus({ licenseId, from, to, now, audit: { actor, action: `license.${action}`, subject: licenseId } });
  const license = await requireLicense(store, licenseId);
  if (!outcome.ok) throw new Conflict(`cannot ${action} a license that is ${license.status}`);
  return viewOf(license);
}

export async function revokeAgent(store: LicensingStore, agentId: string, actor: string, now: Date) {
  const agent = await store.getAgent(agentId);
  if (!agent) throw new NotFound(`no agent ${agentId}`);
  if (agent.status !== 'active') throw new Conflict(`the agent is already ${agent.status}`);
  const outcome = await store.releaseSeat({ agentId, licenseId: agent.licenseId, status: 'revoked', now, audit: { actor, action: 'agent.revoke', subject: agentId } });
  if (!outcome.ok) throw new Conflict('the agent changed meanwhile; look again');
  return agentView({ ...agent, status: 'revoked' });
}

/** Lifts an operator's revocation: the computer may register again (and takes a seat if one is free). */
export async function unrevokeAgent(store: LicensingStore, agentId: string, actor: string, now: Date) {
  const agent = await store.getAgent(agentId);
  if (!agent) throw new NotFound(`no agent ${agentId}`);
  if (agent.status !== 'revoked') throw new Conflict(`the agent is ${agent.status}, not revoked`);
  const outcome = await store.unrevokeAgent({ agentId, now, audit: { actor, action: 'agent.unrevoke', subject: agentId } });
  if (!outcome.ok) throw new Conflict('the agent changed meanwhile; look again');
  return agentView({ ...agent, status: 'unrevoked' });
}

export async function blacklistMachine(store: LicensingStore, machineId: string, reason: string | undefined, actor: string, now: Date) {
  const entry = { machineHash: machineHashOf(machineId), machineId, ...(reason && { reason }), addedAt: now.toISOString(), addedBy: actor };
  await store.addToBlacklist(entry, { actor, action: 'blacklist.add', subject: machineId, ...(reason && { detail: { reason } }) }, now);
  return { machineId, blacklisted: true };
}

export async function unblacklistMachine(store: LicensingStore, machineId: string, actor: string, now: Date) {
  const outcome = await store.removeFromBlacklist(machineHashOf(machineId), { actor, action: 'blacklist.remove', subject: machineId }, now);
  if (!outcome.ok) throw new NotFound(`machine ${machineId} is not blacklisted`);
  return { machineId, blacklisted: false };
}
