/**
 * The mirror's HTTP(S) server: the same interface as the global service, so an agent
 * changes only its server URL. It is the local stack's origin (lib/edge/origin.ts: the
 * path guard, signed-URL checks, ranges, stalled readers) in front of the service's own
 * handlers (registration, manifest, reports) built on the mirror's lease-backed store,
 * with the mirror's own key signing the download grants it hands out. Calls of mirrors
 * further down a chain go on to the upstream.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { createAgentsHandler } from '#functions/agents/handler.ts';
import { createHealthHandler } from '#functions/health/handler.ts';
import { createManifestHandler } from '#functions/manifest/handler.ts';
import { createReportsHandler } from '#functions/reports/handler.ts';
import { watchedKeyGroup, cdnKeyDir, readLocalCdnKey } from '#lib/cdn/key-files.ts';
import type { RuntimeKey, RuntimeSettings } from '#lib/config.ts';
import { defaultRuntimeSettings } from '#lib/config.ts';
import { functionDefinition, routes } from '#lib/definitions/routes.ts';
import { GrantIssuer, pemPolicySigner } from '#lib/delivery/grant.ts';
import type { LambdaHandler } from '#lib/edge/origin.ts';
import { createOrigin } from '#lib/edge/origin.ts';
import { Unavailable } from '#lib/errors.ts';
import { apiHandler } from '#lib/http/handler.ts';
import { RateLimiter } from '#lib/http/rate-limit.ts';
import { json } from '#lib/http/response.ts';
import type { Logger } from '#lib/log.ts';
import type { HttpClient } from '../agent/http.ts';
import type { MirrorLicensing } from './licensing.ts';
import { mirrorObjects } from './objects.ts';
import type { Served } from './state.ts';
import type { LeaseAnswer } from './sync.ts';

export interface MirrorServerOptions {
  readonly dir: string;
  readonly licensing: MirrorLicensing;
  readonly served: () => Served | undefined;
  /** Where mirrors further down a chain are sent on to; absent for a mirror fed by imports. */
  readonly upstream?: { readonly url: string; readonly http: HttpClient };
  readonly https: boolean;
  readonly pollSeconds: number;
  readonly grantLifetimeSeconds: number;
  readonly logger: Logger;
  readonly objectIdleTimeoutMs: number;
  readonly log?: (line: string) => void;
  readonly accessLog?: (line: string) => void;
  /** The token buckets' rates; the service's defaults (lib/config.ts) where absent. */
  readonly rateLimits?: Partial<MirrorRateLimits>;
}

/**
 * The runtime settings (lib/config.ts) of a mirror's token buckets, per instance as the
 * service's: registrations per client address, manifest requests and reports per agent.
 */
export const mirrorRateKeys = ['registrationPerMinute', 'registrationBurst', 'manifestPerMinute', 'manifestBurst', 'reportsPerMinute', 'reportsBurst'] as const satisfies readonly RuntimeKey[];
export type MirrorRateLimits = Pick<RuntimeSettings, (typeof mirrorRateKeys)[number]>;

/** Host names (and IP addresses, IPv6 bracketed) with an optional port; no wildcard, no path. */
const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(:[0-9]{1,5})?$/;

/**
 * The host an agent reached this mirror by, as the origin's signed-URL check sees it
 * (`new URL` of the Host header: lower case, no default port); undefined for a Host
 * header that is not a host, so a `*` in it never reaches a grant's resource.
 */
function hostOf(event: APIGatewayProxyEventV2): string | undefined {
  const raw = event.headers.host ?? 'localhost';
  if (!HOST.test(raw)) return undefined;
  try {
    return new URL(`http://${raw}`).host;
  } catch {
    return undefined;
  }
}

/** The origin a grant for `host` names: the scheme this mirror listens on and the host, as the origin's check (lib/edge/origin.ts) rebuilds the viewer's URL. */
function grantOrigin(https: boolean, host: string): string {
  return `${https ? 'https' : 'http'}://${host}`;
}

/** Bounded per-host caches: a few names at most; a client choosing Host headers only empties them. */
const maxHosts = 32;

function boundedPerHost<T>(make: (host: string) => T): (host: string) => T {
  const byHost = new Map<string, T>();
  return (host) => {
    let value = byHost.get(host);
    if (value === undefined) {
      if (byHost.size >= maxHosts) byHost.clear();
      value = make(host);
      byHost.set(host, value);
    }
    return value;
  };
}

/**
 * One handler per host agents reach the mirror by, with that host's URLs and grants: a
 * grant names the host it was issued for (as CloudFront's name its domain), so one
 * issued for host A is refused on host B.
 */
function perHost(make: (baseUrl: string, grants: GrantIssuer) => LambdaHandler, https: boolean, grantsFor: (host: string) => GrantIssuer): LambdaHandler {
  const handlerFor = boundedPerHost((host) => make(grantOrigin(https, host), grantsFor(host)));
  return async (event, context) => {
    const host = hostOf(event as APIGatewayProxyEventV2);
    if (host === undefined) return json(400, { error: { code: 'INVALID_REQUEST', message: 'the Host header is not a host name' } });
    return handlerFor(host)(event, context);
  };
}

export async function createMirrorHandler(options: MirrorServerOptions): Promise<(req: IncomingMessage, res: ServerResponse) => void> {
  const { dir, licensing, logger } = options;
  const key = await readLocalCdnKey(dir);
  // Agents may reach the mirror by any of its names: a grant per name, each anchored to it.
  const signer = pemPolicySigner(key.keyPairId, key.privateKeyPem);
  const grantsFor = boundedPerHost(
    (host) =>
      new GrantIssuer(signer, {
        baseUrl: grantOrigin(options.https, host),
        lifetimeSeconds: options.grantLifetimeSeconds,
        renewBeforeSeconds: Math.floor(options.grantLifetimeSeconds / 4),
      }),
  );
  const now = () => new Date();
  const limits: MirrorRateLimits = { ...defaultRuntimeSettings(), ...options.rateLimits };
  const registrations = new RateLimiter({ perSecond: limits.registrationPerMinute / 60, burst: limits.registrationBurst });
  const manifests = new RateLimiter({ perSecond: limits.manifestPerMinute / 60, burst: limits.manifestBurst });
  const reports = new RateLimiter({ perSecond: limits.reportsPerMinute / 60, burst: limits.reportsBurst });
  const release = async (product: string, version: string) => {
    const setManifestPath = options.served()?.versions[product]?.[version];
    return setManifestPath === undefined ? undefined : { setManifestPath };
  };

  const handlers: Record<string, LambdaHandler> = {
    health: createHealthHandler({
      tableAnswers: async () => {
        if (!options.served()) throw new Unavailable('this mirror holds nothing yet: it syncs from its upstream, or takes an import', 30);
      },
      logger,
    }) as LambdaHandler,
    agents: createAgentsHandler({ store: licensing.store, pollSeconds: options.pollSeconds, registrations, logger, now }) as LambdaHandler,
    manifest: perHost(
      (cdnBaseUrl, grants) =>
        createManifestHandler({
          access: licensing.store,
          releases: { release },
          grants,
          cdnBaseUrl,
          pollSeconds: options.pollSeconds,
          admit: (agentId) => manifests.take(agentId),
          logger,
          now,
        }) as LambdaHandler,
      options.https,
      grantsFor,
    ),
    // The service decides halts, from the reports the mirror sends on.
    reports: createReportsHandler({
      access: licensing.store,
      fleet: licensing.fleet(),
      channels: licensing.channels(),
      policy: { failureRate: 1, minReports: Number.POSITIVE_INFINITY },
      admit: (agentId) => reports.take(agentId),
      rolloutChanged: async () => undefined,
      logger,
      now,
    }) as LambdaHandler,
    mirrors: perHost((base, grants) => relayHandler(options, grants, base), options.https, grantsFor),
  };

  const served = routes.filter((r) => r.authorization === 'public' && handlers[r.functionId]);
  return createOrigin({
    routes: served,
    functions: new Map(
      [...new Set(served.map((r) => r.functionId))].map((id) => [id, { definition: functionDefinition(id), handler: handlers[id] as LambdaHandler }] as const),
    ),
    objects: mirrorObjects(dir, options.served),
    objectIdleTimeoutMs: options.objectIdleTimeoutMs,
    keyGroup: watchedKeyGroup(cdnKeyDir(dir)),
    ...(options.log && { log: options.log }),
    ...(options.accessLog && { accessLog: options.accessLog }),
  });
}

/**
 * The calls of a mirror further down the chain, sent on upstream as they came. A lease
 * comes back with this mirror's own grants and URLs in place of the upstream's: the
 * downstream mirror fetches from here. The lease itself, signed by the service, passes
 * through untouched.
 */
function relayHandler(options: MirrorServerOptions, grants: GrantIssuer, base: string): LambdaHandler {
  return apiHandler(options.logger, async (event) => {
    const upstream = options.upstream;
    if (!upstream) throw new Unavailable('this mirror has no upstream to send that on to', 300);
    const response = await upstream.http.send(`${upstream.url}${event.rawPath}`, {
      method: event.requestContext.http.method,
      headers: { 'content-type': 'application/json' },
      body: event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? ''),
    });
    const text = await response.text();
    if (!response.ok || event.routeKey !== 'POST /v1/mirrors/lease') {
      return { statusCode: response.status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }, body: text };
    }
    const answer = JSON.parse(text) as LeaseAnswer;
    const now = new Date();
    const ours = Object.fromEntries(await Promise.all(answer.lease.signed.products.map(async (p) => [p, await grants.grant(p, now)] as const)));
    return json(200, { ...answer, grants: ours, metadataUrl: `${base}/metadata/`, targetsUrl: `${base}/targets/`, pollSeconds: options.pollSeconds });
  }) as LambdaHandler;
}
