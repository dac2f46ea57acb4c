/**
 * The account quotas a fleet's release day needs, checked at synth (docs/cdk.md, "Account
 * quotas"). A quota AWS applies per account and region is not something a template can
 * raise: a fleet that needs more deploys fine and fails on release day, throttled. So the
 * synth fails instead, naming the quota to raise, until `quotas` in the context says it
 * was raised (the operator's statement, as a figure: what Service Quotas now grants).
 *
 * The load is the stage throttle's (cdk/fleet.ts: every agent asks for a manifest and
 * reports once within one poll interval, with THROTTLE_HEADROOM on top), priced per request
 * by the cost model's per-request figures (lib/cost/model.ts `assumptions`), so the synth
 * and `npm run cost` agree on what a request costs.
 */
import * as z from 'zod/mini';
import { assumptions } from '#lib/cost/model.ts';
import { ACCOUNT_RATE_QUOTA, THROTTLE_HEADROOM } from './fleet.ts';

/** The defaults AWS grants a new account in a region (Service Quotas shows the ones in force). */
export const DEFAULT_QUOTAS = {
  /** API Gateway: "Throttle rate", requests per second for every API of the account in the region. */
  apiRequestsPerSecond: ACCOUNT_RATE_QUOTA,
  /** Lambda: "Concurrent executions", for every function of the account in the region. */
  lambdaConcurrentExecutions: 1_000,
  /** DynamoDB: "Table-level read throughput limit" of an on-demand table, read request units per second. */
  tableReadUnitsPerSecond: 40_000,
  /** DynamoDB: "Table-level write throughput limit" of an on-demand table, write request units per second. */
  tableWriteUnitsPerSecond: 40_000,
} as const;

export type Quotas = { readonly [K in keyof typeof DEFAULT_QUOTAS]: number };

const quota = z.number().check(z.int(), z.gte(1), z.lte(100_000_000));

/** `signet.quotas`: each a quota raised for this account, in each region of the deployment; absent ones are AWS's defaults. */
export const quotasSchema = z._default(
  z.strictObject({
    apiRequestsPerSecond: z.optional(quota),
    lambdaConcurrentExecutions: z.optional(quota),
    tableReadUnitsPerSecond: z.optional(quota),
    tableWriteUnitsPerSecond: z.optional(quota),
  }),
  {},
);

/** What the release day of a fleet asks of each quota, per region (every region may take the whole fleet when the others fail). */
export function releaseDayLoad(fleetSize: number, pollSeconds: number): Quotas {
  // Manifests and reports each arrive at fleetSize / pollSeconds a second, plus the headroom.
  const perKind = (fleetSize / pollSeconds) * THROTTLE_HEADROOM;
  const { manifest, report } = assumptions;
  return {
    apiRequestsPerSecond: 2 * perKind,
    lambdaConcurrentExecutions: perKind * (manifest.seconds + report.seconds),
    tableReadUnitsPerSecond: perKind * (manifest.readUnits + report.readUnits),
    tableWriteUnitsPerSecond: perKind * (manifest.writeUnits + report.writeUnits),
  };
}

const QUOTA_NAMES: Record<keyof Quotas, string> = {
  apiRequestsPerSecond: 'API Gateway "Throttle rate" (requests per second)',
  lambdaConcurrentExecutions: 'Lambda "Concurrent executions"',
  tableReadUnitsPerSecond: 'DynamoDB "Table-level read throughput limit" (read units per second)',
  tableWriteUnitsPerSecond: 'DynamoDB "Table-level write throughput limit" (write units per second)',
};

/**
 * One line per quota the fleet's release day exceeds: the figure, the quota in force and
 * how to go on. `stageRate` is the stage's throttle (derived or set), which must also fit
 * the account's rate: the stage cannot pass it whatever it says.
 */
export function quotaProblems(input: { fleetSize: number; pollSeconds: number; stageRate: number; raised: Partial<Quotas>; field: string }): string[] {
  const load = { ...releaseDayLoad(input.fleetSize, input.pollSeconds) };
  load.apiRequestsPerSecond = Math.max(load.apiRequestsPerSecond, input.stageRate);
  const fleet = `${input.fleetSize.toLocaleString('en-US')} agents polling every ${input.pollSeconds} s`;
  return (Object.keys(DEFAULT_QUOTAS) as Array<keyof Quotas>).flatMap((key) => {
    const inForce = input.raised[key] ?? DEFAULT_QUOTAS[key];
    const needed = Math.ceil(load[key]);
    if (needed <= inForce) return [];
    const was = input.raised[key] === undefined ? "AWS's default" : 'the raised quota stated';
    return [
      `  ${input.field}.quotas.${key}: ${fleet} need ${needed.toLocaleString('en-US')} on release day, over ${QUOTA_NAMES[key]} of ${inForce.toLocaleString('en-US')} (${was}): ask Service Quotas to raise it in every region, then set ${input.field}.quotas.${key} to the quota granted`,
    ];
  });
}
