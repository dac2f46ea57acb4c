/** `signet license create|show|suspend|resume|revoke` and `signet blacklist add|remove`, `signet agents revoke|unrevoke`. */
import type { Command } from 'commander';
import type { LicenseView } from '#lib/licensing/admin.ts';
import { licenseIdOf } from '#lib/licensing/secrets.ts';
import type { ServerFlags } from '../admin-client.ts';
import { adminClient, withServerOptions } from '../admin-client.ts';
import { CliError } from '../errors.ts';
import { printRecord } from '../output.ts';

interface CommonFlags extends ServerFlags {
  json?: boolean;
}


/** A license is named by its key (hashed here, never sent) or by its 32-hex id. */
function licenseIdFrom(keyOrId: string): string {
  if (/^[0-9a-f]{32}$/.test(keyOrId)) return keyOrId;
  if (!/^[A-Za-z0-9\s-]{8,64}$/.test(keyOrId)) throw new CliError('expected a license key (SIG-...) or a license id (32 hex characters)');
  return licenseIdOf(keyOrId);
}

function licenseLines(license: LicenseView): Record<string, unknown> {
  return {
    id: license.licenseId,
    customer: license.customer,
    products: license.products,
    seats: `${license.seatsUsed} of ${license.seats} used`,
    status: license.status,
    expires: license.expiresAt,
    'reclaim after': `${license.reclaimAfterDays} days of silence`,
    created: license.createdAt,
  };
}

export function registerLicense(program: Command): void {
  const license = program.command('license').description('manage licenses (admin API, SigV4)');

  withServerOptions(
    license
      .command('create')
      .description('create a license and print its key, once')
      .requiredOption('--customer <name>', 'who the license is for')
      .requiredOption('--products <list>', 'comma-separated products it entitles')
      .requiredOption('--seats <n>', 'how many agents may hold a seat at once')
      .requiredOption('--expires <date>', 'YYYY-MM-DD (through the end of that day, UTC) or an ISO date-time')
      .option('--reclaim-after-days <n>', 'free the seat of an agent silent this long (default 30)'),
  ).action(async (flags: CommonFlags & { customer: string; products: string; seats: string; expires: string; reclaimAfterDays?: string }) => {
    const seats = Number(flags.seats);
    if (!Number.isInteger(seats) || seats < 1) throw new CliError(`--seats must be a positive whole number, got "${flags.seats}"`);
    const reclaim = flags.reclaimAfterDays === undefined ? undefined : Number(flags.reclaimAfterDays);
    if (reclaim !== undefined && (!Number.isInteger(reclaim) || reclaim < 1)) throw new CliError(`--reclaim-after-days must be a positive whole number`);
    const client = await adminClient(flags);
    const created = await client.call<{ licenseKey: string; license: LicenseView }>('POST', '/v1/admin/licenses', {
      customer: flags.customer,
      products: flags.products.split(',').map((p) => p.trim()).filter(Boolean),
      seats,
      expires: flags.expires,
      ...(reclaim !== undefined && { reclaimAfterDays: reclaim }),
    });
    printRecord('License created. The key is shown only now: store it.', { key: created.licenseKey, ...licenseLines(created.license) }, flags.json === true, created);
  });

  withServerOptions(license.command('show').description('show a license and its seat holders').argument('<key-or-id>')).action(
    async (keyOrId: string, flags: CommonFlags) => {
      const client = await adminClient(flags);
      const shown = await client.call<{ license: LicenseView; seatHolders: Array<Record<string, unknown>>; mirrors?: Array<Record<string, unknown>> }>('GET', `/v1/admin/licenses/${licenseIdFrom(keyOrId)}`);
      printRecord('License', licenseLines(shown.license), flags.json === true, shown);
      if (!flags.json && shown.seatHolders.length > 0) {
        console.log('  seat holders (least recently seen first):');
        for (const agent of shown.seatHolders) {
          console.log(`    ${String(agent.agentId)}  ${String(agent.product)}  ${String(agent.machineId)}  last seen ${String(agent.lastSeenAt)}`);
        }
      }
      if (!flags.json && (shown.mirrors ?? []).length > 0) {
        console.log('  site mirrors holding seats (lease ended longest ago first):');
        for (const mirror of shown.mirrors ?? []) {
          console.log(`    ${String(mirror.mirrorId)}  ${String(mirror.seats)} seats  lease until ${String(mirror.leaseExpiresAt)}`);
        }
      }
    },
  );

  for (const action of ['suspend', 'resume', 'revoke'] as const) {
    withServerOptions(license.command(action).description(`${action} a license`).argument('<key-or-id>')).action(async (keyOrId: string, flags: CommonFlags) => {
      const client = await adminClient(flags);
      const changed = await client.call<{ license: LicenseView }>('POST', `/v1/admin/licenses/${licenseIdFrom(keyOrId)}/${action}`);
      printRecord(`License ${changed.license.status}.`, licenseLines(changed.license), flags.json === true, changed);
    });
  }

  const blacklist = program.command('blacklist').description('keep computers from registering and updating (admin API, SigV4)');
  withServerOptions(
    blacklist.command('add').description('blacklist a computer').requiredOption('--machine-id <id>', "the computer's machine id").option('--reason <text>', 'why, for the audit trail'),
  ).action(async (flags: CommonFlags & { machineId: string; reason?: string }) => {
    const client = await adminClient(flags);
    const result = await client.call<Record<string, unknown>>('PUT', `/v1/admin/blacklist/${encodeURIComponent(flags.machineId)}`, flags.reason ? { reason: flags.reason } : {});
    printRecord(`Computer ${flags.machineId} is blacklisted.`, {}, flags.json === true, result);
  });
  withServerOptions(blacklist.command('remove').description('take a computer off the blacklist').requiredOption('--machine-id <id>', "the computer's machine id")).action(
    async (flags: CommonFlags & { machineId: string }) => {
      const client = await adminClient(flags);
      const result = await client.call<Record<string, unknown>>('DELETE', `/v1/admin/blacklist/${encodeURIComponent(flags.machineId)}`);
      printRecord(`Computer ${flags.machineId} is no longer blacklisted.`, {}, flags.json === true, result);
    },
  );

  const agents = program.command('agents').description('manage registered agents (admin API, SigV4)');
  withServerOptions(agents.command('revoke').description("revoke an agent: its token stops working and its seat is freed").argument('<agent-id>')).action(
    async (agentId: string, flags: CommonFlags) => {
      const client = await adminClient(flags);
      const result = await client.call<{ agent: Record<string, unknown> }>('POST', `/v1/admin/agents/${encodeURIComponent(agentId)}/revoke`);
      printRecord(`Agent ${agentId} revoked.`, {}, flags.json === true, result);
    },
  );
  withServerOptions(
    agents.command('unrevoke').description('lift an agent\'s revocation: its computer may register again (and takes a seat if one is free)').argument('<agent-id>'),
  ).action(async (agentId: string, flags: CommonFlags) => {
    const client = await adminClient(flags);
    const result = await client.call<{ agent: Record<string, unknown> }>('POST', `/v1/admin/agents/${encodeURIComponent(agentId)}/unrevoke`);
    printRecord(`Agent ${agentId} may register again; its old token stays void.`, {}, flags.json === true, result);
  });
}
