/**
 * Publishing and rollout, behind IAM (SigV4): the repository root, release commits,
 * channel promotion and halts, and the audit trail.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { dynamo } from '#lib/aws/clients.ts';
import { bucketName, tableConfig } from '#lib/config.ts';
import { FleetStore } from '#lib/delivery/fleet.ts';
import { parseJsonBody, parseWith } from '#lib/http/body.ts';
import { ApiError } from '#lib/http/errors.ts';
import { apiHandler } from '#lib/http/handler.ts';
import { iamActor } from '#lib/http/iam.ts';
import { json } from '#lib/http/response.ts';
import { productName } from '#lib/licensing/requests.ts';
import { halt, promote } from '#lib/releases/channels.ts';
import { commitRelease, putRoot } from '#lib/releases/repository.ts';
import { auditQuery, channelName, commitBody, promoteBody, rootBody } from '#lib/releases/requests.ts';
import { repositoryDeps } from '#lib/releases/service.ts';

const deps = await repositoryDeps();
const fleet = new FleetStore(dynamo(), tableConfig().mainTable);
const bucket = bucketName();


function channelParams(event: APIGatewayProxyEventV2) {
  return { product: parseWith(productName, event.pathParameters?.product), channel: parseWith(channelName, event.pathParameters?.channel) };
}

export const handler = apiHandler(async (event) => {
  const actor = iamActor(event);
  const now = deps.now();
  switch (event.routeKey) {
    case 'GET /v1/admin/repository':
      return json(200, { state: (await deps.store.repositoryState()) ?? null, bucket, onlineKeys: { snapshot: deps.signers.snapshot.key.toJSON(), timestamp: deps.signers.timestamp.key.toJSON() }, onlineKeyIds: { snapshot: deps.signers.snapshot.key.keyID, timestamp: deps.signers.timestamp.key.keyID } });
    case 'PUT /v1/admin/repository/root':
      return json(200, await putRoot(deps, parseJsonBody(event, rootBody, 256 * 1024).root, actor));
    case 'POST /v1/admin/releases': {
      // Targets metadata grows with the files of every retained version: allow a few MB.
      const body = parseJsonBody(event, commitBody, 8 * 1024 * 1024);
      const result = await commitRelease(deps, body, actor);
      return json(result.alreadyPublished ? 200 : 201, result);
    }
    case 'POST /v1/admin/channels/{product}/{channel}/promote': {
      const body = parseJsonBody(event, promoteBody);
      return json(200, { channel: await promote(deps.store, { ...channelParams(event), ...body }, actor, now) });
    }
    case 'POST /v1/admin/channels/{product}/{channel}/halt':
      return json(200, { channel: await halt(deps.store, channelParams(event), actor, now) });
    case 'GET /v1/admin/fleet/{product}': {
      const product = parseWith(productName, event.pathParameters?.product);
      const [versions, channels] = await Promise.all([fleet.versions(product), deps.store.channels(product)]);
      return json(200, { product, versions, channels });
    }
    case 'GET /v1/admin/audit': {
      const query = parseWith(auditQuery, event.queryStringParameters ?? {});
      return json(200, { entries: await deps.store.auditTrail(query.day ?? now.toISOString().slice(0, 10)) });
    }
    default:
      throw new ApiError('NOT_FOUND', `no route ${event.routeKey}`);
  }
});
