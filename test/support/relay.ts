/** Fixtures for the unit tests of relayed reports and the mirrors handler: in-memory stores with one product, two releases and a rollout. */
import type { RelayDeps, RelayedReport } from '#lib/delivery/relay.ts';
import type { Channel, Release } from '#lib/releases/store.ts';
import { FakeChannels, FakeFleet } from './fakes.ts';

export const now = new Date('2026-12-01T12:00:00Z');
export const MIRROR = { mirrorId: 'c'.repeat(32), licenseId: 'd'.repeat(32), seats: 50 };
export const agent = (i: number) => i.toString(16).padStart(32, '0');
export const minutesAgo = (m: number) => new Date(now.getTime() - m * 60_000).toISOString();

/** demo-av/stable rolling 1.1.0 out to 50%, 1.0.0 before it. */
export function channel(overrides: Partial<Channel> = {}): Channel {
  return { product: 'demo-av', channel: 'stable', version: '1.1.0', percent: 50, previousVersion: '1.0.0', status: 'active', revision: 1, updatedAt: now.toISOString(), updatedBy: 'ci', ...overrides };
}

export function relaySetup(policy = { failureRate: 0.2, minReports: 4 }) {
  const fleet = new FakeFleet();
  const channels = new FakeChannels();
  for (const version of ['1.0.0', '1.1.0']) channels.releases.set(`demo-av/${version}`, { product: 'demo-av', version } as Release);
  channels.channels.set('demo-av/stable', channel());
  let rolloutChanges = 0;
  const deps: RelayDeps = { fleet, releases: channels.listing, channels, policy, rolloutChanged: async () => void rolloutChanges++ };
  return { fleet, channels, deps, rolloutChanges: () => rolloutChanges };
}

export const report = (overrides: Partial<RelayedReport> = {}): RelayedReport => ({ agentId: agent(1), product: 'demo-av', installedVersion: '1.0.0', result: 'ok', at: minutesAgo(10), ...overrides });
