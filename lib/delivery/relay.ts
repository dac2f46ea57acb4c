/**
 * Reports a site mirror relays for the agents behind it. They count in the fleet view as
 * direct reports do (per-version counters, agents moving between versions) and weigh on a
 * rollout exactly as direct ones (`haltIfFailing`, shared with lib/delivery/reports.ts).
 * The agents have no record upstream: each one's last relayed report is kept in its own
 * item under the mirror, and a report no newer than the one kept is skipped, so a mirror
 * that relays the same batch twice (a retry after a lost answer) counts it once.
 */
import { backoffPause, mapLimit } from '#lib/concurrency.ts';
import { Unavailable } from '#lib/errors.ts';
import type { License } from '#lib/licensing/model.ts';
import { authenticateMirror } from '#lib/licensing/mirrors.ts';
import type { LicensingStore } from '#lib/licensing/store.ts';
import type { ReleaseStore } from '#lib/releases/store.ts';
import type { FleetStore } from './fleet.ts';
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
  readonly fleet: Pick<FleetStore, 'recordRelayed' | 'relayedAgent' | 'counters'>;
  readonly releases: Pick<ReleaseStore, 'release' | 'channels'>;
  /** Makes rollout changes visible to agents (moves the snapshot they watch); called once per batch that halted something. */
  readonly rolloutChanged: () => Promise<void>;
}

export interface RelayOutcome {
  /** Reports recorded. */
  readonly accepted: number;
  /** Reports left out: a product the license does not entitle, a version never released, no newer than the agent's last relayed report, or dated in the future. */
  readonly skipped: number;
  /** Rollouts these reports halted. */
  readonly halted: readonly HaltedRollout[];
}

/** A mirror's clock may run this far ahead of ours; a report dated later is skipped (it would shadow every later report of its agent). */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** Agents recorded at once: each is a read and a transaction, in order within one agent. */
const CONCURRENCY = 8;
/** Tries per report: transactions on one version's counters conflict when they overlap, so they back off and retry. */
const MAX_ATTEMPTS = 8;

/** Why a report is left out before any write, or undefined if it is to be recorded. */
export function relaySkipReason(report: RelayedReport, license: Pick<License, 'products'>, released: (product: string, version: string) => boolean, now: Date): string | undefined {
  if (!license.products.includes(report.product)) return 'product not entitled';
  if (!released(report.product, report.installedVersion)) return 'version never released';
  if (Date.parse(report.at) > now.getTime() + MAX_CLOCK_SKEW_MS) return 'dated in the future';
  return undefined;
}

export async function relayReports(
  deps: RelayDeps,
  mirror: { readonly mirrorId: string; readonly licenseId: string },
  license: Pick<License, 'products'>,
  reports: readonly RelayedReport[],
  now: Date,
): Promise<RelayOutcome> {
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
  const kept = reports
    .filter((r) => relaySkipReason(r, license, released, now) === undefined)
    .map((r) => ({ ...r, at: new Date(r.at).toISOString() }))
    .sort((a, b) => a.at.localeCompare(b.at));
  const byAgent = new Map<string, typeof kept>();
  for (const report of kept) {
    const key = `${report.product}\n${report.agentId}`;
    byAgent.set(key, [...(byAgent.get(key) ?? []), report]);
  }

  let accepted = 0;
  const touched = new Set<string>();
  await mapLimit([...byAgent.values()], CONCURRENCY, async (agentReports) => {
    const first = agentReports[0];
    if (!first) return;
    let previous = (await deps.fleet.relayedAgent(mirror.mirrorId, first.product, first.agentId))?.installedVersion;
    for (const report of agentReports) {
      for (let attempt = 0; ; attempt++) {
        const outcome = await deps.fleet.recordRelayed({
          ...mirror,
          agentId: report.agentId,
          product: report.product,
          previousVersion: previous,
          version: report.installedVersion,
          result: report.result,
          ...(report.detail && { detail: report.detail }),
          at: report.at,
          now,
        });
        if (outcome === 'recorded') {
          accepted++;
          previous = report.installedVersion;
          touched.add(`${report.product}\n${report.installedVersion}`);
        }
        if (outcome !== 'lost') break;
        // A concurrent relay of this agent landed first (record over what it wrote), or the
        // transaction conflicted with another on the version's counters: wait, read, retry.
        if (attempt >= MAX_ATTEMPTS) throw new Unavailable('reports of this agent or version are being recorded concurrently, retry later', 2);
        await backoffPause(attempt + 1);
        previous = (await deps.fleet.relayedAgent(mirror.mirrorId, report.product, report.agentId))?.installedVersion;
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
  return { accepted, skipped: reports.length - accepted, halted };
}

export interface MirrorReportsRequest {
  readonly licenseKey: string;
  readonly mirrorId: string;
  readonly reports: readonly RelayedReport[];
}

/** POST /v1/mirrors/reports: the mirror, by its license key and a lease it was issued, then its reports. */
export async function relayMirrorReports(deps: RelayDeps & { readonly mirrors: Pick<LicensingStore, 'readMirror'> }, request: MirrorReportsRequest, now: Date): Promise<RelayOutcome> {
  const { license, mirror } = await authenticateMirror(deps.mirrors, request.licenseKey, request.mirrorId, now);
  return relayReports(deps, { mirrorId: mirror.mirrorId, licenseId: license.licenseId }, license, request.reports, now);
}
