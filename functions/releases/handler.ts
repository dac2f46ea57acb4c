/**
 * Publishing and rollout, behind IAM (SigV4): the repository root, release commits,
 * channel promotion and halts, the products and their fleets, and the audit trail.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { s3ObjectStore } from '#lib/aws/objects.ts';
import { MAX_PAGE_SIZE, pageSize } from '#lib/aws/pages.ts';
import { declaredBodyLimit } from '#lib/definitions/routes.ts';
import { FleetStore } from '#lib/delivery/fleet.ts';
import { NotFound } from '#lib/errors.ts';
import { parseJsonBody, parseWith } from '#lib/http/body.ts';
import { apiHandler } from '#lib/http/handler.ts';
import { iamActor } from '#lib/http/iam.ts';
import { json } from '#lib/http/response.ts';
import { productName } from '#lib/licensing/requests.ts';
import type { Logger } from '#lib/log.ts';
import { haltRollout, promoteRollout } from '#lib/releases/rollout.ts';
import type { RepositoryDeps } from '#lib/releases/repository.ts';
import { commitRelease, putRoot } from '#lib/releases/repository.ts';
import { auditQuery, channelName, commitBody, promoteBody, rootBody } from '#lib/releases/requests.ts';
import { ReleaseStore } from '#lib/releases/store.ts';
import type { Services } from '#lib/services.ts';

/** A root with its signatures; targets metadata, which grows with the files of every retained version. As their routes declare. */
const ROOT_BODY_BYTES = declaredBodyLimit('PUT /v1/admin/repository/root');
const COMMIT_BODY_BYTES = declaredBodyLimit('POST /v1/admin/releases');

export interface ReleasesDeps extends RepositoryDeps {
  readonly fleet: FleetStore;
  readonly bucket: string;
  readonly logger: Logger;
}

export async function releasesDependencies(services: Services): Promise<ReleasesDeps> {
  const { config } = services;
  const table = config.get('mainTable');
  const bucket = config.get('bucket');
  const [snapshot, timestamp] = await Promise.all([services.onlineSigner('snapshot'), services.onlineSigner('timestamp')]);
  return {
    store: new ReleaseStore(services.dynamo, table),
    objects: s3ObjectStore(services.s3(), bucket),
    signers: { snapshot, timestamp },
    now: services.now,
    timestampExpiryHours: config.get('timestampExpiryHours'),
    replicaViews: config.writesReplicaViews(),
    fleet: new FleetStore(services.dynamo, table),
    bucket,
    logger: services.logger,
  };
}

function channelParams(event: APIGatewayProxyEventV2) {
  return { product: parseWith(productName, event.pathParameters?.product, 'product'), channel: parseWith(channelName, event.pathParameters?.channel, 'channel') };
}

export function createReleasesHandler(deps: ReleasesDeps) {
  const { fleet, bucket } = deps;
  return apiHandler(deps.logger, async (event) => {
    const actor = iamActor(event);
    const now = deps.now();
    switch (event.routeKey) {
      case 'GET /v1/admin/repository':
        return json(200, { state: (await deps.store.repositoryState()) ?? null, bucket, onlineKeys: { snapshot: deps.signers.snapshot.key.toJSON(), timestamp: deps.signers.timestamp.key.toJSON() }, onlineKeyIds: { snapshot: deps.signers.snapshot.key.keyID, timestamp: deps.signers.timestamp.key.keyID } });
      case 'PUT /v1/admin/repository/root':
        return json(200, await putRoot(deps, parseJsonBody(event, rootBody, ROOT_BODY_BYTES).root, actor));
      case 'POST /v1/admin/releases': {
        const body = parseJsonBody(event, commitBody, COMMIT_BODY_BYTES);
        const result = await commitRelease(deps, body, actor);
        return json(result.alreadyPublished ? 200 : 201, result);
      }
      case 'POST /v1/admin/channels/{product}/{channel}/promote': {
        const body = parseJsonBody(event, promoteBody);
        return json(200, { channel: await promoteRollout(deps, { ...channelParams(event), ...body }, actor) });
      }
      case 'POST /v1/admin/channels/{product}/{channel}/halt':
        return json(200, { channel: await haltRollout(deps, channelParams(event), actor) });
      case 'GET /v1/admin/fleet/{product}': {
        const product = parseWith(productName, event.pathParameters?.product, 'product');
        const [versions, channels] = await Promise.all([fleet.versions(product), deps.store.channels(product)]);
        return json(200, { product, versions, channels });
      }
      case 'GET /v1/admin/products':
        return json(200, { products: await deps.store.products() });
      case 'GET /v1/admin/audit': {
        const query = parseWith(auditQuery, event.queryStringParameters ?? {});
        // 200 by default: what `signet audit` shows of a day.
        const { items, nextCursor } = await deps.store.auditPage(query.day ?? now.toISOString().slice(0, 10), pageSize(query.limit, MAX_PAGE_SIZE), query.cursor);
        return json(200, { entries: items, ...(nextCursor && { nextCursor }) });
      }
      default:
        throw new NotFound(`no route ${event.routeKey}`);
    }
  });
}
