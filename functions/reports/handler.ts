/**
 * POST /v1/reports: an agent says what it installed and whether it worked. The use case
 * (recordReport) keeps the agent's last report and per-version counters, and halts a
 * rollout whose new version fails too often; the halt is logged with the message the
 * monitoring stack counts.
 */
import { FleetStore } from '#lib/delivery/fleet.ts';
import type { ReportDeps } from '#lib/delivery/reports.ts';
import { recordReport } from '#lib/delivery/reports.ts';
import { reportBody } from '#lib/delivery/requests.ts';
import { parseJsonBody } from '#lib/http/body.ts';
import { apiHandler } from '#lib/http/handler.ts';
import { RateLimiter } from '#lib/http/rate-limit.ts';
import { json } from '#lib/http/response.ts';
import { bearerToken } from '#lib/licensing/authenticate.ts';
import { LicensingStore } from '#lib/licensing/store.ts';
import type { Logger } from '#lib/log.ts';
import { logMessages } from '#lib/log.ts';
import { ReleaseStore, releaseRecordsPolicy } from '#lib/releases/store.ts';
import { withCachedExtras } from '#lib/licensing/cached-extras.ts';
import type { Services } from '#lib/services.ts';
import type { RepositoryEvent } from '../timestamp-refresh/handler.ts';

export interface ReportsDeps extends ReportDeps {
  readonly logger: Logger;
  readonly now: () => Date;
}

export function reportsDependencies(services: Services): ReportsDeps {
  const { config } = services;
  const table = config.get('mainTable');
  const limiter = new RateLimiter({ perSecond: config.get('reportsPerMinute') / 60, burst: config.get('reportsBurst') });
  const licensing = new LicensingStore(services.dynamo, table);
  // The channel kept for channelCacheSeconds and the release for good (docs/delivery.md, "Caches and their bounds").
  const cached = withCachedExtras(licensing, releaseRecordsPolicy(config.get('channelCacheSeconds') * 1000));
  return {
    access: { ...cached, getAgent: (agentId: string) => licensing.getAgent(agentId) },
    fleet: new FleetStore(services.dynamo, table),
    channels: new ReleaseStore(services.dynamo, table),
    policy: { failureRate: config.get('haltFailureRate'), minReports: config.get('haltMinReports') },
    admit: (agentId) => limiter.take(agentId),
    rolloutChanged: () => services.invoke('timestampRefresh', { moveSnapshot: true } satisfies RepositoryEvent),
    logger: services.logger,
    now: services.now,
  };
}

export function createReportsHandler(deps: ReportsDeps) {
  return apiHandler(deps.logger, async (event) => {
    const report = parseJsonBody(event, reportBody);
    const outcome = await recordReport(deps, bearerToken(event.headers), report, deps.now());
    if (outcome.halted) deps.logger.warn(logMessages.autoHalt, { ...outcome.halted });
    return json(202, {});
  });
}
