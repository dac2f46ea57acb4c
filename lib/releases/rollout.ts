/**
 * Rollout changes as a whole: the channel in the table, then a new snapshot, so the
 * version agents watch in timestamp.json moves and each agent asks for its manifest at
 * its next poll. A wave widened, a halt or a rollback reaches agents that way, with no
 * API call in between.
 */
import { halt, promote } from './channels.ts';
import type { RepositoryDeps } from './repository.ts';
import { moveSnapshot } from './repository.ts';
import type { Channel } from './store.ts';

export async function promoteRollout(deps: RepositoryDeps, input: { product: string; channel: string; version: string; percent: number }, actor: string): Promise<Channel> {
  const channel = await promote(deps.store, input, actor, deps.now());
  await moveSnapshot(deps);
  return channel;
}

export async function haltRollout(deps: RepositoryDeps, input: { product: string; channel: string }, actor: string): Promise<Channel> {
  const before = await deps.store.channel(input.product, input.channel);
  const channel = await halt(deps.store, input, actor, deps.now());
  if (before?.status !== 'halted') await moveSnapshot(deps);
  return channel;
}
