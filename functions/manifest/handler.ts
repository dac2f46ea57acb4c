/**
 * POST /v1/manifest: the hot path every agent calls when timestamp.json says something
 * changed. The use case (buildManifest) reads the agent, its license, its computer's
 * blacklist entry and the channel in one strongly consistent BatchGetItem; the grant is
 * a cached signature.
 */
import { GrantIssuer } from '#lib/delivery/grant.ts';
import type { ManifestDeps as UseCaseDeps } from '#lib/delivery/manifest.ts';
import { buildManifest } from '#lib/delivery/manifest.ts';
import { manifestBody } from '#lib/delivery/requests.ts';
import { parseJsonBody } from '#lib/http/body.ts';
import { apiHandler } from '#lib/http/handler.ts';
import { RateLimiter } from '#lib/http/rate-limit.ts';
import { json } from '#lib/http/response.ts';
import { bearerToken } from '#lib/licensing/authenticate.ts';
import { LicensingStore } from '#lib/licensing/store.ts';
import type { Logger } from '#lib/log.ts';
import { ReleaseStore, releaseRecordsPolicy } from '#lib/releases/store.ts';
import { withCachedExtras } from '#lib/licensing/cached-extras.ts';
import type { Services } from '#lib/services.ts';

export interface ManifestDeps extends UseCaseDeps {
  readonly grants: GrantIssuer;
  readonly logger: Logger;
  readonly now: () => Date;
}

export async function manifestDependencies(services: Services): Promise<ManifestDeps> {
  const { config } = services;
  const table = config.get('mainTable');
  const cdn = await services.cdn();
  const lifetimeSeconds = config.get('grantLifetimeSeconds');
  // An agent asks for a manifest when timestamp.json changed: a few times an hour at most.
  const limiter = new RateLimiter({ perSecond: config.get('manifestPerMinute') / 60, burst: config.get('manifestBurst') });
  return {
    // The channel is kept for channelCacheSeconds (docs/delivery.md, "Caches and their bounds").
    access: withCachedExtras(new LicensingStore(services.dynamo, table), releaseRecordsPolicy(config.get('channelCacheSeconds') * 1000)),
    releases: new ReleaseStore(services.dynamo, table),
    // Renewed when a quarter is left: a download started with a grant has that long at least.
    grants: new GrantIssuer(cdn.signer, { baseUrl: cdn.baseUrl, lifetimeSeconds, renewBeforeSeconds: Math.floor(lifetimeSeconds / 4) }),
    cdnBaseUrl: cdn.baseUrl,
    pollSeconds: config.get('pollSeconds'),
    admit: (agentId) => limiter.take(agentId),
    logger: services.logger,
    now: services.now,
  };
}

export function createManifestHandler(deps: ManifestDeps) {
  return apiHandler(deps.logger, async (event) => {
    const request = parseJsonBody(event, manifestBody);
    return json(200, await buildManifest(deps, bearerToken(event.headers), request, deps.now()));
  });
}
