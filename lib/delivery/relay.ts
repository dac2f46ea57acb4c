/**
 * Reports a site mirror relays for the agents behind it. They count in the fleet view as
 * direct reports do (per-version counters, agents moving between versions) and weigh on a
 * rollout exactly as direct ones (`haltIfFailing`, shared with lib/delivery/reports.ts).
 * The agents have no record upstream: each one's last relayed report is kept in its own
 * item under the mirror, and a report no newer than the one kept is skipped, so a mirror
 * that relays the same batch twice (a retry after a lost answer) counts it once. Only as
 * many of a mirror's agents count per product as it holds seats (FleetStore.recordRelayed):
 * reports of any more, forged or not, are skipped, so no mirror weighs on a rollout more
 * than the agents it could register.
 */
import { backoffPause, mapLimit } from '#lib/concurrency.ts';
import { Unavailable } from '#lib/errors.ts';
import type { License, MirrorRecord } from '#lib/licensing/model.ts';
import { authenticateMirror } from '#lib/licensing/mirrors.ts';
import type { LicensingStore } from '#lib/licensing/store.ts';
import type { ReleaseStore } from '#lib/releases/store.ts';
import type { FleetStore, RelayedAgent } from './fleet.ts';
import type { HaltDeps, HaltedRollout } from './reports.ts';
import { haltIfFailing } from './reports.ts';

export interface RelayedReport {
  /** The agent's id at the mirror (32 lower-case hex, as upstream agent ids). */
  readonly agentId: string;
  readonly product: string;
  readonly installedVersion: string;
  readonly result: 'ok' | 'failed';
  readonly detail?: string;
  /** When the agent reported to the mirror (ISO 8601 date-time). */
  readonly at: string;
}

export interface RelayDeps extends HaltDeps {
  readonly fleet: Pick<FleetStore, 'recordRelayed' | 'relayedAgent' | 'reclaimRelayedSlot' | 'counters'>;
  readonly releases: Pick<ReleaseStore, 'release' | 'channels'>;
  /** Makes rollout changes visible to agents (moves the snapshot they watch); called once per batch that halted something. */
  readonly rolloutChanged: () => Promise<void>;
}

/** Why reports were left out, in the answer's `reasons` (counts by reason). */
export const SKIP_REASONS = {
  notEntitled: 'product not entitled',
  neverReleased: 'version never released',
  future: 'dated in the future',
  notNewer: 'not newer than its agent\'s last report',
  seatsFull: 'more agents than the mirror\'s seats',
  origin: 'origin mirror not leased under this license',
} as const;
export type SkipReason = (typeof SKIP_REASONS)[keyof typeof SKIP_REASONS];

export interface RelayOutcome {
  /** Reports recorded. */
  readonly accepted: number;
  /** Reports left out (see `reasons`). */
  readonly skipped: number;
  /** How many were left out for each reason (only reasons that occurred). */
  readonly reasons: Readonly<Partial<Record<SkipReason, number>>>;
  /** Rollouts these reports halted. */
  readonly halted: readonly HaltedRollout[];
}

/** The mirror whose agents the reports are: its id, license and seats (its MirrorRecord). */
export interface RelayOrigin {
  readonly mirrorId: string;
  readonly licenseId: string;
  readonly seats: number;
}

/** A mirror's clock may run this far ahead of ours; a report dated later is skipped (it would shadow every later report of its agent). */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** Agents recorded at once: each is a read and a transaction, in order within one agent. */
const CONCURRENCY = 8;
/** Tries per report: transactions on one version's counters conflict when they overlap, so they back off and retry. */
const MAX_ATTEMPTS = 8;

/** Why a report is left out before any write, or undefined if it is to be recorded. */
export function relaySkipReason(report: RelayedReport, license: Pick<License, 'products'>, released: (product: string, version: string) => boolean, now: Date): SkipReason | undefined {
  if (!license.products.includes(report.product)) return SKIP_REASONS.notEntitled;
  if (!released(report.product, report.installedVersion)) return SKIP_REASONS.neverReleased;
  if (Date.parse(report.at) > now.getTime() + MAX_CLOCK_SKEW_MS) return SKIP_REASONS.future;
  return undefined;
}

/**
 * Records reports of `origin`'s agents. Each counts only for an agent that holds one of
 * the origin's slots (at most its seats per product, a silent agent's slot reclaimed after
 * the license's `reclaimAfterDays`), and only once.
 */
export async function relayReports(
  deps: RelayDeps,
  origin: RelayOrigin,
  license: Pick<License, 'products' | 'reclaimAfterDays'>,
  reports: readonly RelayedReport[],
  now: Date,
): Promise<RelayOutcome> {
  const reasons: Partial<Record<SkipReason, number>> = {};
  const skip = (reason: SkipReason, count = 1) => void (reasons[reason] = (reasons[reason] ?? 0) + count);

  // Which versions exist: one read per distinct product and version of the batch.
  const pairs = [...new Set(reports.filter((r) => license.products.includes(r.product)).map((r) => `${r.product}\n${r.installedVersion}`))];
  const releasedPairs = new Set(
    (await mapLimit(pairs, CONCURRENCY, async (pair) => {
      const [product = '', version = ''] = pair.split('\n');
      return (await deps.releases.release(product, version)) ? pair : undefined;
    })).filter((pair): pair is string => pair !== undefined),
  );
  const released = (product: string, version: string) => releasedPairs.has(`${product}\n${version}`);

  // Oldest first, per agent and product, so a batch holding several reports of one agent ends on its latest.
  const kept: RelayedReport[] = [];
  for (const report of reports) {
    const reason = relaySkipReason(report, license, released, now);
    if (reason) skip(reason);
    else kept.push({ ...report, at: new Date(report.at).toISOString() });
  }
  kept.sort((a, b) => a.at.localeCompare(b.at));
  const byAgent = new Map<string, RelayedReport[]>();
  for (const report of kept) {
    const key = `${report.product}\n${report.agentId}`;
    byAgent.set(key, [...(byAgent.get(key) ?? []), report]);
  }

  // Per product, once its slots are found all taken and none silent long enough to free: the batch's other new agents are skipped without a write.
  const full = new Set<string>();
  const silentBefore = new Date(now.getTime() - license.reclaimAfterDays * 86_400_000).toISOString();
  let accepted = 0;
  const touched = new Set<string>();
  await mapLimit([...byAgent.values()], CONCURRENCY, async (agentReports) => {
    const first = agentReports[0];
    if (!first) return;
    // What the service holds of the agent: its version (the counters move from it), its last report's time and whether it holds a slot.
    let agent: Pick<RelayedAgent, 'installedVersion' | 'lastResult' | 'lastReportAt' | 'holdsSlot'> | undefined = await deps.fleet.relayedAgent(origin.mirrorId, first.product, first.agentId);
    for (const [position, report] of agentReports.entries()) {
      for (let attempt = 0; ; attempt++) {
        // What the agent's item already says settles it without a write.
        if (agent && agent.lastReportAt >= report.at) {
          skip(SKIP_REASONS.notNewer);
          break;
        }
        if (!agent?.holdsSlot && full.has(report.product)) {
          // Without a slot now, none of its later reports in this batch can take one either.
          skip(SKIP_REASONS.seatsFull, agentReports.length - position);
          return;
        }
        const outcome = await deps.fleet.recordRelayed({
          mirrorId: origin.mirrorId,
          licenseId: origin.licenseId,
          agentId: report.agentId,
          product: report.product,
          previous: agent && { version: agent.installedVersion, result: agent.lastResult },
          holdsSlot: agent?.holdsSlot ?? false,
          seats: origin.seats,
          version: report.installedVersion,
          result: report.result,
          ...(report.detail && { detail: report.detail }),
          at: report.at,
          now,
        });
        if (outcome === 'recorded') {
          accepted++;
          agent = { installedVersion: report.installedVersion, lastResult: report.result, lastReportAt: report.at, holdsSlot: true };
          touched.add(`${report.product}\n${report.installedVersion}`);
          break;
        }
        if (outcome === 'stale') {
          skip(SKIP_REASONS.notNewer);
          break;
        }
        if (outcome === 'full') {
          // A slot held by an agent silent longer than the license allows is freed for this one; else the product is full for this batch.
          if (!full.has(report.product) && (await deps.fleet.reclaimRelayedSlot(origin.mirrorId, report.product, silentBefore, now))) continue;
          full.add(report.product);
          continue;
        }
        // A concurrent relay of this agent landed first (record over what it wrote), or the
        // transaction conflicted with another on the version's counters: wait, read, retry.
        if (attempt >= MAX_ATTEMPTS) throw new Unavailable('reports of this agent or version are being recorded concurrently, retry later', 2);
        await backoffPause(attempt + 1);
        agent = await deps.fleet.relayedAgent(origin.mirrorId, report.product, report.agentId);
      }
    }
  });

  // Each rollout of a version these reports touched is weighed once, with them all counted.
  const halted: HaltedRollout[] = [];
  const products = [...new Set([...touched].map((pair) => pair.split('\n')[0] ?? ''))];
  for (const product of products) {
    for (const channel of await deps.releases.channels(product)) {
      if (!touched.has(`${product}\n${channel.version}`)) continue;
      const outcome = await haltIfFailing(deps, channel, channel.version, now);
      if (outcome) halted.push(outcome);
    }
  }
  if (halted.length > 0) await deps.rolloutChanged();
  return { accepted, skipped: reports.length - accepted, reasons, halted };
}

export interface MirrorReportsRequest {
  readonly licenseKey: string;
  readonly mirrorId: string;
  /** The mirror whose agents made the reports, when not the one relaying them (an isolated mirror's, imported here as a file). */
  readonly origin?: string;
  readonly reports: readonly RelayedReport[];
}

/**
 * POST /v1/mirrors/reports: the mirror, by its license key and a lease it was issued, then
 * its reports, attributed to `origin` when given: that mirror must be leased under the same
 * license (else every report is skipped), and its seats are what bound them.
 */
export async function relayMirrorReports(deps: RelayDeps & { readonly mirrors: Pick<LicensingStore, 'readMirror'> }, request: MirrorReportsRequest, now: Date): Promise<RelayOutcome & { readonly origin: string }> {
  const { license, mirror } = await authenticateMirror(deps.mirrors, request.licenseKey, request.mirrorId, now);
  let origin: MirrorRecord = mirror;
  if (request.origin !== undefined && request.origin !== mirror.mirrorId) {
    const read = (await deps.mirrors.readMirror(license.licenseId, request.origin)).mirror;
    if (read?.licenseId !== license.licenseId) {
      return { accepted: 0, skipped: request.reports.length, reasons: { [SKIP_REASONS.origin]: request.reports.length }, halted: [], origin: request.origin };
    }
    origin = read;
  }
  const outcome = await relayReports(deps, { mirrorId: origin.mirrorId, licenseId: license.licenseId, seats: origin.seats }, license, request.reports, now);
  return { ...outcome, origin: origin.mirrorId };
}
