/**
 * The license-checked update manifest: which version this agent should install now, the
 * set manifest that lists its files, where to get them, and the download grant.
 */
import { NotFound, ProductNotEntitled } from '#lib/errors.ts';
import type { AccessStore } from '#lib/licensing/authenticate.ts';
import { authenticateAgent } from '#lib/licensing/authenticate.ts';
import type { Agent } from '#lib/licensing/model.ts';
import { versionForAgent } from '#lib/releases/channels.ts';
import type { Channel, Release } from '#lib/releases/store.ts';
import { channelRecord } from '#lib/releases/store.ts';
import type { Grant, GrantIssuer } from './grant.ts';

export interface ManifestRequest {
  readonly product: string;
  readonly channel?: string;
  readonly installedVersion?: string;
}

export interface Manifest {
  readonly product: string;
  readonly channel: string;
  readonly version: string;
  readonly setManifest: string;
  readonly metadataUrl: string;
  readonly targetsUrl: string;
  readonly download: Grant;
  readonly pollSeconds: number;
}

export const DEFAULT_CHANNEL = 'stable';

/** The version and set manifest this agent gets from the channel; `undefined` set manifest: look the release up. */
export function chooseVersion(agent: Agent, request: ManifestRequest, channel: Channel | undefined): { version: string; setManifest?: string } {
  if (request.product !== agent.product) {
    throw new ProductNotEntitled(`this agent is registered for ${agent.product}, not ${request.product}`);
  }
  const channelName = request.channel ?? DEFAULT_CHANNEL;
  if (!channel) throw new NotFound(`nothing is released on ${request.product}/${channelName}`);
  const version = versionForAgent(channel, agent.agentId, request.installedVersion);
  if (!version) throw new NotFound(`nothing is released on ${request.product}/${channelName} yet`);
  const setManifest = version === channel.version ? channel.setManifest : version === channel.previousVersion ? channel.previousSetManifest : undefined;
  return { version, ...(setManifest !== undefined && { setManifest }) };
}

export interface ManifestDeps {
  readonly access: AccessStore;
  /** Where a release's set manifest is (a mirror answers from what it holds). */
  readonly releases: { release(product: string, version: string): Promise<Pick<Release, 'setManifestPath'> | undefined> };
  readonly grants: Pick<GrantIssuer, 'grant'>;
  /** `https://cdn.example.com`, no trailing slash. */
  readonly cdnBaseUrl: string;
  readonly pollSeconds: number;
  /** Takes one request from the agent's allowance, or refuses with RateLimited. */
  readonly admit: (agentId: string) => void;
}

/**
 * The manifest for the agent holding `token`: its agent, license, computer and channel
 * come from one strongly consistent read; the grant is the product's cached signature.
 */
export async function buildManifest(deps: ManifestDeps, token: string, request: ManifestRequest, now: Date): Promise<Manifest> {
  const channelName = request.channel ?? DEFAULT_CHANNEL;
  const { agent, also } = await authenticateAgent(deps.access, token, now, [channelRecord(request.product, channelName)]);
  deps.admit(agent.agentId);
  const chosen = chooseVersion(agent, request, also[0]);
  const setManifest = chosen.setManifest ?? (await deps.releases.release(request.product, chosen.version))?.setManifestPath;
  if (!setManifest) throw new NotFound(`${request.product} ${chosen.version} is no longer available`);
  return {
    product: request.product,
    channel: channelName,
    version: chosen.version,
    setManifest,
    metadataUrl: `${deps.cdnBaseUrl}/metadata/`,
    targetsUrl: `${deps.cdnBaseUrl}/targets/`,
    download: await deps.grants.grant(request.product, now),
    pollSeconds: deps.pollSeconds,
  };
}
