/** `status(dir)`: what the state says, without its secrets (the token and the license key). */
import { join, resolve } from 'node:path';
import { loadProxy } from './client.ts';
import { AgentError } from './errors.ts';
import { proxyLabel } from './proxy.ts';
import type { AgentState, LastResult } from './state.ts';
import { readState } from './state.ts';
import { DEFAULT_CHANNEL } from '#lib/delivery/manifest.ts';

export interface AgentStatus {
  readonly dir: string;
  readonly server: string;
  readonly product: string;
  readonly channel: string;
  readonly machineId: string;
  readonly registered: boolean;
  readonly agentId?: string;
  readonly installedVersion?: string;
  readonly installedAt?: string;
  /** The installed set's directory (absolute; `DIR/current` points at it). */
  readonly installedPath?: string;
  readonly pollSeconds?: number;
  readonly lastResult?: LastResult;
  readonly stopped?: AgentState['stopped'];
  readonly registrationError?: AgentState['registrationError'];
  readonly proxy?: string;
}

/** The state without its secrets. */
export async function status(dirOption: string): Promise<AgentStatus> {
  const dir = resolve(dirOption);
  const state = await readState(dir);
  if (!state) throw new AgentError('NOT_REGISTERED', `no agent in ${dir}: run \`signet agent register\` first`);
  let proxy: string | undefined;
  try {
    const settings = await loadProxy(state.proxyConf);
    proxy = settings && proxyLabel(settings);
  } catch {
    proxy = `unreadable: ${state.proxyConf}`;
  }
  return {
    dir,
    server: state.server,
    product: state.product,
    channel: state.channel ?? DEFAULT_CHANNEL,
    machineId: state.machineId,
    registered: Boolean(state.token),
    ...(state.agentId && { agentId: state.agentId }),
    ...(state.installed && { installedVersion: state.installed.version, installedAt: state.installed.installedAt, installedPath: join(dir, state.installed.path) }),
    ...(state.pollSeconds !== undefined && { pollSeconds: state.pollSeconds }),
    ...(state.lastResult && { lastResult: state.lastResult }),
    ...(state.stopped && { stopped: state.stopped }),
    ...(state.registrationError && { registrationError: state.registrationError }),
    ...(proxy && { proxy }),
  };
}
