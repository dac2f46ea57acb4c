/**
 * Every function of lib/definitions/routes.ts, as the local stack builds it: the same
 * factory and dependencies the Lambda entry (`functions/<id>/index.ts`) uses, given the
 * local services instead of the cloud ones.
 */
import type { Context } from 'aws-lambda';
import { adminDependencies, createAdminHandler } from '#functions/admin/handler.ts';
import { agentsDependencies, createAgentsHandler } from '#functions/agents/handler.ts';
import { createHealthHandler, healthDependencies } from '#functions/health/handler.ts';
import { createManifestHandler, manifestDependencies } from '#functions/manifest/handler.ts';
import { createMirrorsHandler, mirrorsDependencies } from '#functions/mirrors/handler.ts';
import { createReleasesHandler, releasesDependencies } from '#functions/releases/handler.ts';
import { createReportsHandler, reportsDependencies } from '#functions/reports/handler.ts';
import { createTimestampRefreshHandler, timestampRefreshDependencies } from '#functions/timestamp-refresh/handler.ts';
import type { LambdaHandler } from '#lib/edge/origin.ts';
import type { Services } from '#lib/services.ts';


export interface BuiltFunction {
  readonly handler: LambdaHandler;
  /** What it was built from (benchmarks look inside: the manifest's grant issuer, say). */
  readonly deps: unknown;
}

async function built<D>(deps: D | Promise<D>, create: (deps: D) => (event: never, context: Context) => Promise<unknown>): Promise<BuiltFunction> {
  const resolved = await deps;
  return { handler: create(resolved) as LambdaHandler, deps: resolved };
}

export const functionBuilders: Readonly<Record<string, (services: Services) => Promise<BuiltFunction>>> = {
  health: (s) => built(healthDependencies(s), createHealthHandler),
  agents: (s) => built(agentsDependencies(s), createAgentsHandler),
  admin: (s) => built(adminDependencies(s), createAdminHandler),
  manifest: (s) => built(manifestDependencies(s), createManifestHandler),
  reports: (s) => built(reportsDependencies(s), createReportsHandler),
  mirrors: (s) => built(mirrorsDependencies(s), createMirrorsHandler),
  releases: (s) => built(releasesDependencies(s), createReleasesHandler),
  timestampRefresh: (s) => built(timestampRefreshDependencies(s), createTimestampRefreshHandler),
};
