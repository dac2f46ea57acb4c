/**
 * POST /v1/manifest: the hot path every agent calls when timestamp.json says something
 * changed. One strongly consistent BatchGetItem reads the agent, its license, its
 * computer's blacklist entry and the channel; the grant is a cached signature.
 */
import { dynamo } from '#lib/aws/clients.ts';
import { pollSeconds, tableConfig } from '#lib/config.ts';
import { deliveryConfig } from '#lib/delivery/config.ts';
import { GrantIssuer } from '#lib/delivery/grant.ts';
import { DEFAULT_CHANNEL, chooseVersion } from '#lib/delivery/manifest.ts';
import type { Manifest } from '#lib/delivery/manifest.ts';
import { manifestBody } from '#lib/delivery/requests.ts';
import { parseJsonBody } from '#lib/http/body.ts';
import { ApiError } from '#lib/http/errors.ts';
import { apiHandler } from '#lib/http/handler.ts';
import { RateLimiter, rateLimitFromEnv } from '#lib/http/rate-limit.ts';
import { json } from '#lib/http/response.ts';
import { authenticateAgent, bearerToken } from '#lib/licensing/authenticate.ts';
import { LicensingStore } from '#lib/licensing/store.ts';
import type { Channel } from '#lib/releases/store.ts';
import { ReleaseStore, channelKey } from '#lib/releases/store.ts';

const { mainTable } = tableConfig();
const licensing = new LicensingStore(dynamo(), mainTable);
const releases = new ReleaseStore(dynamo(), mainTable);
const delivery = await deliveryConfig();
export const grants = new GrantIssuer(delivery.signer, { baseUrl: delivery.cdnBaseUrl, lifetimeSeconds: delivery.grantLifetimeSeconds, renewBeforeSeconds: delivery.renewBeforeSeconds });
const poll = pollSeconds();
// An agent asks for a manifest when timestamp.json changed: a few times an hour at most.
const limiter = new RateLimiter(rateLimitFromEnv('MANIFEST', { perMinute: 60, burst: 30 }));

export const handler = apiHandler(async (event) => {
  const request = parseJsonBody(event, manifestBody);
  const token = bearerToken(event.headers);
  const now = new Date();
  const channelName = request.channel ?? DEFAULT_CHANNEL;
  const { agent, extra } = await authenticateAgent(licensing, token, now, [channelKey(request.product, channelName)]);
  const { pk: _pk, sk: _sk, ...channelItem } = extra[0] ?? {};
  const channel = extra[0] ? (channelItem as unknown as Channel) : undefined;
  limiter.take(agent.agentId);
  const chosen = chooseVersion(agent, request, channel);
  const setManifest = chosen.setManifest ?? (await releases.release(request.product, chosen.version))?.setManifestPath;
  if (!setManifest) throw new ApiError('NOT_FOUND', `${request.product} ${chosen.version} is no longer available`);
  const manifest: Manifest = {
    product: request.product,
    channel: channelName,
    version: chosen.version,
    setManifest,
    metadataUrl: `${delivery.cdnBaseUrl}/metadata/`,
    targetsUrl: `${delivery.cdnBaseUrl}/targets/`,
    download: await grants.grant(request.product, now),
    pollSeconds: poll,
  };
  return json(200, manifest);
});
