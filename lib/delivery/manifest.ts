/**
 * The license-checked update manifest: which version this agent should install now, the
 * set manifest that lists its files, where to get them, and the download grant.
 */
import { ApiError } from '#lib/http/errors.ts';
import type { Agent } from '#lib/licensing/model.ts';
import { versionForAgent } from '#lib/releases/channels.ts';
import type { Channel } from '#lib/releases/store.ts';
import type { Grant } from './grant.ts';

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
    throw new ApiError('PRODUCT_NOT_ENTITLED', `this agent is registered for ${agent.product}, not ${request.product}`);
  }
  const channelName = request.channel ?? DEFAULT_CHANNEL;
  if (!channel) throw new ApiError('NOT_FOUND', `nothing is released on ${request.product}/${channelName}`);
  const version = versionForAgent(channel, agent.agentId, request.installedVersion);
  if (!version) throw new ApiError('NOT_FOUND', `nothing is released on ${request.product}/${channelName} yet`);
  const setManifest = version === channel.version ? channel.setManifest : version === channel.previousVersion ? channel.previousSetManifest : undefined;
  return { version, ...(setManifest !== undefined && { setManifest }) };
}
