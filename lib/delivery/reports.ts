/**
 * An agent's report of what it installed: recorded as its last report and in the
 * version's counters, and weighed against the rollout it belongs to, which halts itself
 * when its version fails too often.
 */
import { InvalidRequest, ProductNotEntitled, Unavailable } from '#lib/errors.ts';
import type { AccessStore } from '#lib/licensing/authenticate.ts';
import { authenticateAgent } from '#lib/licensing/authenticate.ts';
import type { LicensingStore } from '#lib/licensing/store.ts';
import type { ChannelStore } from '#lib/releases/channels.ts';
import { haltRollout } from '#lib/releases/channels.ts';
import type { Channel } from '#lib/releases/store.ts';
import { channelRecord, releaseRecord } from '#lib/releases/store.ts';
import type { Agent } from '#lib/licensing/model.ts';
import { backoffPause } from '#lib/concurrency.ts';
import type { FleetStore, HaltPolicy, LastReport } from './fleet.ts';
import { shouldHalt } from './fleet.ts';
import { DEFAULT_CHANNEL } from './manifest.ts';

export interface Report {
  readonly product: string;
  /** The channel the agent follows (default `stable`): whose rollout a failure counts against. */
  readonly channel?: string;
  readonly installedVersion: string;
  readonly result: 'ok' | 'failed';
  readonly detail?: string;
}

export interface ReportDeps extends HaltDeps {
  readonly access: AccessStore & Pick<LicensingStore, 'getAgent'>;
  readonly fleet: Pick<FleetStore, 'record' | 'counters'>;
  /** Takes one request from the agent's allowance, or refuses with RateLimited. */
  readonly admit: (agentId: string) => void;
  /** Makes a rollout change visible to agents (moves the snapshot they watch). */
  readonly rolloutChanged: () => Promise<void>;
}

/** Who halted a rollout, in the audit trail, when its failure rate did. */
export const AUTO_HALT_ACTOR = 'signet:auto-halt';

export interface ReportOutcome {
  /** Set when this report tipped the rollout of its version over the failure rate. */
  readonly halted?: HaltedRollout;
}

export async function recordReport(deps: ReportDeps, token: string, report: Report, now: Date): Promise<ReportOutcome> {
  const channelName = report.channel ?? DEFAULT_CHANNEL;
  // The channel and the release reported on come with the authentication's one read.
  const { agent, also } = await authenticateAgent(deps.access, token, now, [channelRecord(report.product, channelName), releaseRecord(report.product, report.installedVersion)]);
  const [channel, release] = also;
  deps.admit(agent.agentId);
  if (report.product !== agent.product) throw new ProductNotEntitled(`this agent is registered for ${agent.product}, not ${report.product}`);
  if (!release) throw new InvalidRequest('installedVersion', `is not a released version of ${report.product}`);

  let previous = lastReportOf(agent);
  for (let attempt = 0; ; attempt++) {
    const recorded = await deps.fleet.record({ agentId: agent.agentId, product: report.product, previous, version: report.installedVersion, result: report.result, ...(report.detail && { detail: report.detail }), now });
    if (recorded) break;
    // Another report of this agent landed first, or the transaction met another on the
    // version's counters: wait a moment, read the agent again, record over what it holds.
    if (attempt >= MAX_ATTEMPTS) throw new Unavailable('the fleet counters are busy, retry later', 2);
    await backoffPause(attempt + 1);
    previous = lastReportOf(await deps.access.getAgent(agent.agentId));
  }

  // A report on the version a channel is rolling out may halt it.
  const halted = await haltIfFailing(deps, channel, report.installedVersion, now);
  if (!halted) return {};
  await deps.rolloutChanged();
  return { halted };
}

/** Tries at recording one report before the agent is asked to retry later. */
const MAX_ATTEMPTS = 5;

/** The agent's last report, as its item holds it (none before its first). */
function lastReportOf(agent: Agent | undefined): LastReport | undefined {
  return agent?.installedVersion !== undefined && agent.lastResult !== undefined ? { version: agent.installedVersion, result: agent.lastResult } : undefined;
}

/** A rollout the service halted because its version failed too often. */
export interface HaltedRollout {
  readonly product: string;
  readonly channel: string;
  readonly version: string;
  readonly ok: number;
  readonly failed: number;
}

/** What weighing reports against a rollout needs. */
export interface HaltDeps {
  readonly fleet: Pick<FleetStore, 'counters'>;
  readonly channels: ChannelStore;
  readonly policy: HaltPolicy;
}

/**
 * After reports on `version` were recorded (by an agent, or relayed by a mirror): if
 * `channel` is rolling that version out and the version's counters, this report
 * included, reach the policy's failure rate, halts the channel as `signet:auto-halt`.
 * The counters are read strongly consistent after the write, since reports arrive
 * concurrently. Returns the halt only to the one caller that made it, which makes it
 * visible to agents (moves the snapshot); the others, racing, get undefined.
 */
export async function haltIfFailing(deps: HaltDeps, channel: Channel | undefined, version: string, now: Date): Promise<HaltedRollout | undefined> {
  if (!channel || channel.status !== 'active' || channel.version !== version) return undefined;
  const counters = await deps.fleet.counters(channel.product, version);
  if (!counters || !shouldHalt(counters, deps.policy)) return undefined;
  // Halted here only if this call halted it: a rollout halts, and moves the snapshot, once.
  if (!(await haltRollout(deps.channels, { product: channel.product, channel: channel.channel, version }, AUTO_HALT_ACTOR, now))) return undefined;
  return { product: channel.product, channel: channel.channel, version, ok: counters.ok, failed: counters.failed };
}
