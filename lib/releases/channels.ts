/**
 * Channels and rollout waves. A channel points at a version for a share of agents; the
 * rest keep the previous version. Which agents are in the wave is a stable function of
 * the agent and the version: widening a wave only adds agents, and the next version
 * draws a new, independent wave.
 */
import { createHash } from 'node:crypto';
import { Conflict, NotFound } from '#lib/errors.ts';
import type { Channel, ReleaseStore } from './store.ts';

/** What rollout changes need of the release store. */
export type ChannelStore = Pick<ReleaseStore, 'channel' | 'putChannel'>;
import { compareVersions } from './versions.ts';

/** The agent's place in [0, 10000) for this version: its wave position, in hundredths of a percent. */
export function wavePosition(agentId: string, version: string): number {
  return createHash('sha256').update(`${agentId}\n${version}`).digest().readUInt32BE(0) % 10_000;
}

export function inWave(agentId: string, version: string, percent: number): boolean {
  return wavePosition(agentId, version) < Math.round(percent * 100);
}

/**
 * The version a channel offers one agent: the rollout's version inside its wave, the
 * previous one outside it or when halted; never lower than what the agent has.
 */
export function versionForAgent(channel: Channel, agentId: string, installedVersion: string | undefined): string | undefined {
  const offered = channel.status === 'active' && inWave(agentId, channel.version, channel.percent) ? channel.version : channel.previousVersion;
  if (!offered) return installedVersion;
  if (installedVersion && compareVersions(offered, installedVersion) < 0) return installedVersion;
  return offered;
}

export async function promote(
  store: ChannelStore & Pick<ReleaseStore, 'release'>,
  input: { product: string; channel: string; version: string; percent: number },
  actor: string,
  now: Date,
): Promise<Channel> {
  const { product, channel: name, version, percent } = input;
  const release = await store.release(product, version);
  if (!release) throw new NotFound(`${product} ${version} is not published`);
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await store.channel(product, name);
    let previousVersion = current?.previousVersion;
    let previousSetManifest = current?.previousSetManifest;
    if (current && current.version !== version) {
      if (compareVersions(version, current.version) < 0) {
        throw new Conflict(`${name} is at ${current.version}; a channel does not go back to ${version} (halt the rollout instead)`);
      }
      // The outgoing version becomes the fallback only if it had reached everyone.
      const outgoingComplete = current.status === 'active' && current.percent >= 100;
      previousVersion = outgoingComplete ? current.version : current.previousVersion;
      previousSetManifest = outgoingComplete ? current.setManifest : current.previousSetManifest;
    }
    const next: Channel = {
      product,
      channel: name,
      version,
      percent,
      ...(previousVersion !== undefined && { previousVersion }),
      setManifest: release.setManifestPath,
      ...(previousSetManifest !== undefined && { previousSetManifest }),
      status: 'active',
      revision: (current?.revision ?? 0) + 1,
      updatedAt: now.toISOString(),
      updatedBy: actor,
    };
    const audit = { actor, action: 'channel.promote', subject: `${product}/${name}`, detail: { version, percent, previousVersion: previousVersion ?? null } };
    if (await store.putChannel(next, current?.revision, audit, now)) return next;
  }
  throw new Conflict('the channel kept changing; try again');
}

/**
 * Halts the rollout of `version` on a channel, if the channel is still rolling it out:
 * the halted channel when this call halted it; undefined when it was halted already or
 * has moved on to another version (a promotion since wins). So of many callers that saw
 * one rollout fail at once (reports arrive concurrently), exactly one halts it and makes
 * the halt visible.
 */
export async function haltRollout(store: ChannelStore, input: { product: string; channel: string; version: string }, actor: string, now: Date): Promise<Channel | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await store.channel(input.product, input.channel);
    if (!current || current.status !== 'active' || current.version !== input.version) return undefined;
    const next: Channel = { ...current, status: 'halted', revision: current.revision + 1, updatedAt: now.toISOString(), updatedBy: actor };
    const audit = { actor, action: 'channel.halt', subject: `${input.product}/${input.channel}`, detail: { version: current.version, percent: current.percent } };
    if (await store.putChannel(next, current.revision, audit, now)) return next;
  }
  throw new Conflict('the channel kept changing; try again');
}

export async function halt(store: ChannelStore, input: { product: string; channel: string }, actor: string, now: Date): Promise<Channel> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await store.channel(input.product, input.channel);
    if (!current) throw new NotFound(`no channel ${input.channel} for ${input.product}`);
    if (current.status === 'halted') return current;
    const next: Channel = { ...current, status: 'halted', revision: current.revision + 1, updatedAt: now.toISOString(), updatedBy: actor };
    const audit = { actor, action: 'channel.halt', subject: `${input.product}/${input.channel}`, detail: { version: current.version, percent: current.percent } };
    if (await store.putChannel(next, current.revision, audit, now)) return next;
  }
  throw new Conflict('the channel kept changing; try again');
}
