/**
 * Agent registration: check the license and the computer, then take a seat, or, for a
 * machine that already holds one, hand out a fresh token without taking another.
 */
import { backoffPause } from '#lib/concurrency.ts';
import { ComputerBlacklisted, LicenseInvalid, SeatsExhausted, Unavailable } from '#lib/errors.ts';
import type { Agent, License } from './model.ts';
import { isMirrorReclaimable, isReclaimable, licenseRefusal, registrationRefusal } from './model.ts';
import { agentIdOf, digestsEqual, licenseIdOf, licenseKeyHash, machineHashOf, newAgentToken } from './secrets.ts';
import type { LicensingStore, TransactionOutcome } from './store.ts';

/** What registration needs of the licensing store (an in-memory fake stands in for it in unit tests). */
export type RegistrationStore = Pick<LicensingStore, 'readAccess' | 'touch' | 'getLicense' | 'takeSeat' | 'rotateToken' | 'seatHolders' | 'releaseSeat'> & ReclaimStore;

/** What reclaiming a seat needs: the seat holders, agents and mirrors, and the way to take a seat back from either. */
export type ReclaimStore = Pick<LicensingStore, 'seatHolders' | 'releaseSeat' | 'mirrorsHoldingSeats' | 'reclaimMirrorSeats'>;

export interface RegistrationRequest {
  readonly licenseKey: string;
  readonly machineId: string;
  readonly product: string;
  readonly os: string;
  readonly arch: string;
  readonly hostname?: string;
  readonly agentVersion?: string;
}

export interface Registration {
  /** true: a seat was taken (201); false: the machine already had one (200). */
  readonly created: boolean;
  readonly agentId: string;
  readonly token: string;
}

/** Transaction conflicts (another registration or mirror lease on the same license at the same moment) are retried. */
export const MAX_ATTEMPTS = 12;
/** How many of the least recently seen seat holders are looked at for a reclaim. */
const RECLAIM_CANDIDATES = 5;


export async function registerAgent(store: RegistrationStore, request: RegistrationRequest, now: () => Date): Promise<Registration> {
  const keyHash = licenseKeyHash(request.licenseKey);
  const licenseId = licenseIdOf(request.licenseKey);
  const machineHash = machineHashOf(request.machineId);
  const agentId = agentIdOf(licenseId, request.product, request.machineId);
  let reclaimTried = false;

  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (attempt > 0) await backoffPause(attempt);
    const at = now();
    const { license, agent, blacklisted } = await store.readAccess({ licenseId, agentId, machineHash });
    const validLicense = license && digestsEqual(license.keyHash, keyHash) ? license : undefined;
    const refusal = licenseRefusal(validLicense, request.product, at);
    if (refusal) throw refusal;
    if (blacklisted) throw new ComputerBlacklisted();
    // Only after the key checked out: the agent's state is nobody else's business.
    const revoked = registrationRefusal(agent);
    if (revoked) throw revoked;
    if (!validLicense) throw new LicenseInvalid(); // unreachable; narrows the type

    const { token, secretHash } = newAgentToken(licenseId, machineHash, agentId);
    const record: Agent = {
      agentId,
      licenseId,
      machineId: request.machineId,
      machineHash,
      product: request.product,
      os: request.os,
      arch: request.arch,
      ...(request.hostname !== undefined && { hostname: request.hostname }),
      ...(request.agentVersion !== undefined && { agentVersion: request.agentVersion }),
      // Its last report stays with it: the fleet counters count it by that report.
      ...(agent?.installedVersion !== undefined && { installedVersion: agent.installedVersion }),
      ...(agent?.lastResult !== undefined && { lastResult: agent.lastResult }),
      tokenHash: secretHash,
      status: 'active',
      registeredAt: agent?.status === 'active' ? agent.registeredAt : at.toISOString(),
      lastSeenAt: at.toISOString(),
    };

    const reRegistration = agent?.status === 'active';
    const outcome: TransactionOutcome = reRegistration
      ? await store.rotateToken({ agent: record, previousTokenHash: agent.tokenHash, keyHash, now: at })
      : await store.takeSeat({ agent: record, previousStatus: agent?.status, keyHash, now: at });
    if (outcome.ok) return { created: !reRegistration, agentId, token };

    // Something changed between the read and the write: a conflict, a blacklisting, a
    // license change, a racing registration of the same machine, or the last seat went.
    // Read again and decide; only a full license is answered here.
    if (!outcome.conflict && !reRegistration && outcome.failed.length === 1 && outcome.failed[0] === 0) {
      const fresh = await store.getLicense(licenseId);
      if (fresh && !licenseRefusal(fresh, request.product, now()) && fresh.seatsUsed >= fresh.seats) {
        if (!reclaimTried && (await reclaimOneSeat(store, fresh, now()))) {
          reclaimTried = true;
          continue;
        }
        throw new SeatsExhausted(fresh.seats);
      }
    }
  }
  throw new Unavailable('the license is busy with other registrations, retry later', 2);
}

/**
 * Frees seats held too long without use: the least recently seen agent's, if it has been
 * silent longer than the license allows; else every seat of the mirror whose lease ended
 * longest ago, if that was longer ago than the license allows (a mirror that stopped
 * renewing is silent too). True if seats were freed.
 */
export async function reclaimOneSeat(store: ReclaimStore, license: License, now: Date): Promise<boolean> {
  const silentBefore = new Date(now.getTime() - license.reclaimAfterDays * 86_400_000).toISOString();
  const holders = await store.seatHolders(license.licenseId, RECLAIM_CANDIDATES);
  for (const holder of holders) {
    if (!isReclaimable(holder, license, now)) break; // sorted: the rest were seen more recently
    const outcome = await store.releaseSeat({
      agentId: holder.agentId,
      licenseId: license.licenseId,
      status: 'reclaimed',
      now,
      silentBefore,
      audit: { actor: 'signet', action: 'agent.reclaim', subject: holder.agentId, detail: { licenseId: license.licenseId, lastSeenAt: holder.lastSeenAt } },
    });
    if (outcome.ok) return true;
  }
  const mirrors = await store.mirrorsHoldingSeats(license.licenseId, RECLAIM_CANDIDATES);
  for (const mirror of mirrors) {
    if (!isMirrorReclaimable(mirror, license, now)) return false; // sorted: the rest expired later
    const outcome = await store.reclaimMirrorSeats({
      mirror,
      expiredBefore: silentBefore,
      now,
      audit: { actor: 'signet', action: 'mirror.reclaim', subject: mirror.mirrorId, detail: { licenseId: license.licenseId, seats: mirror.seats, leaseExpiresAt: mirror.leaseExpiresAt } },
    });
    if (outcome.ok) return true;
  }
  return false;
}
