/**
 * The site mirrors' endpoints, authenticated by the license key (as registration is) and
 * rate limited per client address:
 *   POST /v1/mirrors/lease              seats under the license and a signed lease (200)
 *   POST /v1/mirrors/reports            reports the mirror's agents made (or an isolated
 *                                       mirror's, `origin`), relayed (202 { accepted, skipped, reasons })
 *   POST /v1/mirrors/offline-timestamp  a long-lived timestamp for an isolated segment (200)
 * A relayed report that halts a rollout is logged with the message the monitoring
 * stack counts, and this function moves the snapshot itself (it holds the snapshot key).
 */
import { s3ObjectStore } from '#lib/aws/objects.ts';
import { FleetStore } from '#lib/delivery/fleet.ts';
import { GrantIssuer } from '#lib/delivery/grant.ts';
import type { RelayDeps } from '#lib/delivery/relay.ts';
import { relayMirrorReports } from '#lib/delivery/relay.ts';
import { relayedReportsBody } from '#lib/delivery/requests.ts';
import { declaredBodyLimit } from '#lib/definitions/routes.ts';
import { NotFound } from '#lib/errors.ts';
import { parseJsonBody } from '#lib/http/body.ts';
import { clientAddress } from '#lib/http/client-address.ts';
import { apiHandler } from '#lib/http/handler.ts';
import { RateLimiter } from '#lib/http/rate-limit.ts';
import { json } from '#lib/http/response.ts';
import type { LeaseDeps } from '#lib/licensing/mirrors.ts';
import { leaseMirror, mirrorOfflineTimestamp } from '#lib/licensing/mirrors.ts';
import { leaseBody, offlineTimestampBody } from '#lib/licensing/requests.ts';
import { LicensingStore } from '#lib/licensing/store.ts';
import type { Logger } from '#lib/log.ts';
import { logMessages } from '#lib/log.ts';
import type { RepositoryDeps } from '#lib/releases/repository.ts';
import { moveSnapshot } from '#lib/releases/repository.ts';
import { ReleaseStore } from '#lib/releases/store.ts';
import type { Services } from '#lib/services.ts';

/** As its route declares (lib/definitions/routes.ts). */
export const MAX_RELAY_BODY_BYTES = declaredBodyLimit('POST /v1/mirrors/reports');

export interface MirrorsDeps {
  readonly mirrors: LicensingStore;
  readonly lease: LeaseDeps;
  readonly relay: RelayDeps;
  readonly repository: RepositoryDeps;
  /** Takes one request from the client address's allowance, or refuses with RateLimited. */
  readonly admit: (address: string) => void;
  readonly logger: Logger;
  readonly now: () => Date;
}

export async function mirrorsDependencies(services: Services): Promise<MirrorsDeps> {
  const { config } = services;
  const table = config.get('mainTable');
  const mirrors = new LicensingStore(services.dynamo, table);
  const releases = new ReleaseStore(services.dynamo, table);
  const [snapshot, timestamp, cdn] = await Promise.all([services.onlineSigner('snapshot'), services.onlineSigner('timestamp'), services.cdn()]);
  const lifetimeSeconds = config.get('grantLifetimeSeconds');
  const repository: RepositoryDeps = {
    store: releases,
    objects: s3ObjectStore(services.s3(), config.get('bucket')),
    signers: { snapshot, timestamp },
    now: services.now,
    timestampExpiryHours: config.get('timestampExpiryHours'),
    replicaViews: config.writesReplicaViews(),
  };
  // A mirror renews its lease and relays reports a few times an hour: per address, as registration.
  const limiter = new RateLimiter({ perSecond: config.get('mirrorPerMinute') / 60, burst: config.get('mirrorBurst') });
  return {
    mirrors,
    lease: {
      store: mirrors,
      releases,
      // As the manifest function's: renewed when a quarter is left.
      grants: new GrantIssuer(cdn.signer, { baseUrl: cdn.baseUrl, lifetimeSeconds, renewBeforeSeconds: Math.floor(lifetimeSeconds / 4) }),
      signer: timestamp,
      cdnBaseUrl: cdn.baseUrl,
      pollSeconds: config.get('pollSeconds'),
    },
    relay: {
      fleet: new FleetStore(services.dynamo, table),
      releases,
      channels: releases,
      policy: { failureRate: config.get('haltFailureRate'), minReports: config.get('haltMinReports') },
      rolloutChanged: async () => {
        await moveSnapshot(repository);
      },
    },
    repository,
    admit: (address) => limiter.take(address),
    logger: services.logger,
    now: services.now,
  };
}

export function createMirrorsHandler(deps: MirrorsDeps) {
  return apiHandler(deps.logger, async (event) => {
    deps.admit(clientAddress(event));
    switch (event.routeKey) {
      case 'POST /v1/mirrors/lease':
        return json(200, await leaseMirror(deps.lease, parseJsonBody(event, leaseBody), deps.now));
      case 'POST /v1/mirrors/reports': {
        const body = parseJsonBody(event, relayedReportsBody, MAX_RELAY_BODY_BYTES);
        const outcome = await relayMirrorReports({ ...deps.relay, mirrors: deps.mirrors }, body, deps.now());
        for (const halted of outcome.halted) deps.logger.warn(logMessages.autoHalt, { ...halted, mirrorId: body.mirrorId, ...(outcome.origin !== body.mirrorId && { origin: outcome.origin }) });
        // Why reports were left out, by reason: what the mirror logs, so an operator sees (say) more agents than seats.
        return json(202, { accepted: outcome.accepted, skipped: outcome.skipped, ...(outcome.skipped > 0 && { reasons: outcome.reasons }) });
      }
      case 'POST /v1/mirrors/offline-timestamp': {
        const result = await mirrorOfflineTimestamp({ mirrors: deps.mirrors, repository: deps.repository }, parseJsonBody(event, offlineTimestampBody), deps.now());
        return json(200, { timestamp: result.timestamp.toJSON(), snapshotVersion: result.snapshotVersion, timestampVersion: result.timestampVersion, expires: result.expires });
      }
      default:
        throw new NotFound(`no mirror route ${event.routeKey}`);
    }
  });
}
