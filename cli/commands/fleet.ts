/** `signet fleet --product P`: the version distribution and results of a product's agents. */
import type { Command } from 'commander';
import type { VersionCounters } from '#lib/delivery/fleet.ts';
import type { Channel } from '#lib/releases/store.ts';
import type { ServerFlags } from '../admin-client.ts';
import { adminClient, withServerOptions } from '../admin-client.ts';

export function registerFleet(program: Command): void {
  const command = program
    .command('fleet')
    .description("the version distribution of a product's agents and the failure rate of each version")
    .requiredOption('--product <name>');
  withServerOptions(command).action(async (flags: ServerFlags & { product: string; json?: boolean }) => {
      const client = await adminClient(flags);
      const fleet = await client.call<{ product: string; versions: VersionCounters[]; channels: Channel[] }>('GET', `/v1/admin/fleet/${encodeURIComponent(flags.product)}`);
      if (flags.json) return console.log(JSON.stringify(fleet, null, 2));
      const total = fleet.versions.reduce((n, v) => n + v.agents, 0);
      const rows = fleet.versions.map((v) => {
        const reports = v.ok + v.failed;
        return [v.version, String(v.agents), total ? `${((100 * v.agents) / total).toFixed(1)}%` : '-', String(reports), reports ? `${((100 * v.failed) / reports).toFixed(1)}%` : '-'];
      });
      const header = ['version', 'agents', 'share', 'reports', 'failed'];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
      const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
      console.log(`${fleet.product}: ${total} agents reporting`);
      console.log(line(header));
      for (const row of rows) console.log(line(row));
      for (const c of fleet.channels) {
        console.log(`channel ${c.channel}: ${c.version} at ${c.percent}% (${c.status})${c.previousVersion ? `, others on ${c.previousVersion}` : ''}`);
      }
    });
}
