/**
 * The scale model: what a fleet's release day asks of DynamoDB's partitions and of the
 * account quotas, from the per-request capacity the meter measured (bench/capacity.ts).
 *
 * Arrival rates: after a release every agent asks for a manifest and reports once within
 * one poll interval, evenly spread, the busiest second 10% above the mean; one license
 * holding 30% of the fleet registers its agents within one poll interval (a mass roll-out).
 *
 * A key one actor alone touched (an agent's own item) takes that actor's requests only:
 * one per poll interval. A key many touched is shared: it takes the pattern's whole rate
 * times the units per request it took in the simulation, which already carries the share
 * of requests that reach it (a license holding 30% of the agents takes 30% of the calls).
 */
import type { CapacityMeter, KeyUsage } from './capacity.ts';

/** DynamoDB's hard limits on one partition (a key never splits across partitions). */
export const PARTITION_LIMITS = { readUnits: 3_000, writeUnits: 1_000 } as const;
/** The target: every partition key at most this share of its limit at the release-day peak (2x headroom). */
export const TARGET_SHARE = 0.5;
/** Default account quotas (as cdk/quotas.ts): per region. */
export const QUOTAS = { tableReadUnits: 40_000, tableWriteUnits: 40_000, apiRequests: 10_000, lambdaConcurrency: 1_000 } as const;
export const PEAK_OVER_MEAN = 1.1;
export const LICENSE_SHARE = 0.3;

export interface FleetShape {
  readonly agents: number;
  readonly pollSeconds: number;
}

/** Requests per second of each pattern at the release-day peak. */
export function arrivalRates(fleet: FleetShape): Record<string, number> {
  const perPoll = (fleet.agents / fleet.pollSeconds) * PEAK_OVER_MEAN;
  return { registration: perPoll * LICENSE_SHARE, manifest: perPoll, report: perPoll };
}

export interface KeyLoad {
  readonly index: string;
  readonly key: string;
  readonly patterns: readonly string[];
  readonly readUnits: number;
  readonly writeUnits: number;
  /** Of the partition's limits, the larger share. */
  readonly share: number;
}

/**
 * What the function instances keep (lib/licensing/cached-extras.ts): the simulation runs
 * with no cache, so a kept record's reads are what every request makes; at scale each
 * instance reads it at most once per `ttlSeconds(key)` (undefined: never kept), and the
 * instances are the pattern's Lambda concurrency.
 */
export interface InstanceCache {
  readonly ttlSeconds: (key: string) => number | undefined;
  /** Function instances serving each pattern at the peak. */
  readonly instances: (pattern: string, fleet: FleetShape) => number;
}

/** Units per second on each partition key at the fleet's peak, every pattern summed. */
export function keyLoads(meter: CapacityMeter, fleet: FleetShape, cache?: InstanceCache): KeyLoad[] {
  const rates = arrivalRates(fleet);
  const byKey = new Map<string, { index: string; key: string; patterns: Set<string>; readUnits: number; writeUnits: number }>();
  for (const usage of meter.usage.values()) {
    const rate = rates[usage.pattern];
    const requests = meter.requests.get(usage.pattern) ?? 0;
    if (rate === undefined || requests === 0) continue;
    const perSecond = cached(perSecondOf(usage, rate, requests, fleet), usage, fleet, cache);
    const id = `${usage.index}|${usage.key}`;
    const load = byKey.get(id) ?? { index: usage.index, key: usage.key, patterns: new Set<string>(), readUnits: 0, writeUnits: 0 };
    load.patterns.add(usage.pattern);
    load.readUnits += perSecond.readUnits;
    load.writeUnits += perSecond.writeUnits;
    byKey.set(id, load);
  }
  return [...byKey.values()]
    .map((l) => ({ ...l, patterns: [...l.patterns], share: Math.max(l.readUnits / PARTITION_LIMITS.readUnits, l.writeUnits / PARTITION_LIMITS.writeUnits) }))
    .sort((a, b) => b.share - a.share);
}

/** A kept record's reads: each instance's one per TTL, when that is fewer than every request's. */
function cached(load: { readUnits: number; writeUnits: number }, usage: KeyUsage, fleet: FleetShape, cache: InstanceCache | undefined): { readUnits: number; writeUnits: number } {
  const ttl = cache?.ttlSeconds(usage.key);
  if (!cache || ttl === undefined || usage.touches === 0) return load;
  const perRead = usage.readUnits / usage.touches;
  const instanceReads = Number.isFinite(ttl) ? cache.instances(usage.pattern, fleet) / ttl : 0;
  return { ...load, readUnits: Math.min(load.readUnits, instanceReads * perRead) };
}

function perSecondOf(usage: KeyUsage, rate: number, requests: number, fleet: FleetShape): { readUnits: number; writeUnits: number } {
  if (usage.actors.size <= 1) {
    // One actor's own key: its requests, one per poll interval.
    const perRequest = 1 / fleet.pollSeconds;
    return { readUnits: (usage.readUnits / Math.max(1, usage.touches)) * perRequest, writeUnits: (usage.writeUnits / Math.max(1, usage.touches)) * perRequest };
  }
  return { readUnits: (usage.readUnits / requests) * rate, writeUnits: (usage.writeUnits / requests) * rate };
}

/** Units per second on the whole table (its indexes included) at the peak. */
export function tableLoad(meter: CapacityMeter, fleet: FleetShape, cache?: InstanceCache): { readUnits: number; writeUnits: number } {
  const rates = arrivalRates(fleet);
  let readUnits = 0;
  let writeUnits = 0;
  for (const usage of meter.usage.values()) {
    const rate = rates[usage.pattern];
    const requests = meter.requests.get(usage.pattern) ?? 0;
    if (rate === undefined || requests === 0) continue;
    const load = cached({ readUnits: (usage.readUnits / requests) * rate, writeUnits: (usage.writeUnits / requests) * rate }, usage, fleet, cache);
    readUnits += load.readUnits;
    writeUnits += load.writeUnits;
  }
  return { readUnits, writeUnits };
}

/** Keys shown by what they are, not by the simulation's ids. */
export function keyShape(key: string): string {
  return key.replace(/[0-9a-f]{32}/g, '<id>').replace(/#bench-[\w-]+/g, '#<product>');
}
