/** `signet publish`, `signet promote`, `signet halt`, `signet audit`: the CI pipeline's and operators' release commands. */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { s3ObjectStore } from '#lib/aws/objects.ts';
import { s3Uploader } from '#lib/aws/upload.ts';
import type { CommitResult } from '#lib/releases/repository.ts';
import type { Channel, RepositoryState } from '#lib/releases/store.ts';
import { DEFAULT_PATCH_FROM_VERSIONS } from '#lib/releases/patches.ts';
import { publish } from '#lib/releases/publish.ts';
import { zstdPatcher } from '#lib/releases/zstd-patch.ts';
import { pemSigner } from '#lib/tuf/signer.ts';
import { tufKeyDir } from '#local/tuf-keys.ts';
import type { ServerFlags } from '../admin-client.ts';
import { adminClient, withServerOptions } from '../admin-client.ts';
import { AdminApiError, CliError } from '../errors.ts';
import { printRecord } from '../output.ts';
import { terminalProgress } from '../progress.ts';
import { s3For } from '../services.ts';

interface Flags extends ServerFlags {
  json?: boolean;
}


export function registerPublish(program: Command): void {
  withServerOptions(
    program
      .command('publish')
      .description('upload a signature set (only files not stored yet), sign its targets metadata, and commit the release')
      .requiredOption('--product <name>', 'the product, e.g. demo-av')
      .requiredOption('--version <version>', '1 to 4 dot-separated whole numbers; must be above the latest published')
      .requiredOption('--dir <dir>', 'the directory holding the set')
      .option('--channel <name>', 'also point this channel at the new version')
      .option('--percent <n>', 'with --channel: the share of agents for the first wave', '100')
      .option('--targets-key <file>', 'PEM private key of the TUF targets role (env SIGNET_TARGETS_KEY); default: the local stack\'s')
      .option('--retention <n>', 'how many versions of the product stay downloadable', '5')
      .option('--patch-from-versions <k>', 'make a binary patch of each changed file from each of the last K published versions (needs the zstd command; 0: none)', String(DEFAULT_PATCH_FROM_VERSIONS)),
  ).action(async (flags: Flags & { product: string; version: string; dir: string; channel?: string; percent: string; targetsKey?: string; retention: string; patchFromVersions: string }) => {
    const started = Date.now();
    const client = await adminClient(flags);
    const keyFile = flags.targetsKey ?? process.env.SIGNET_TARGETS_KEY ?? (client.dataDir ? `${tufKeyDir(client.dataDir)}/targets.key.pem` : undefined);
    if (!keyFile) throw new CliError('no targets key: pass --targets-key FILE or set SIGNET_TARGETS_KEY');
    const targetsSigner = pemSigner(await readFile(keyFile, 'utf8').catch(() => { throw new CliError(`cannot read the targets key ${keyFile}`); }));
    const retention = Number(flags.retention);
    if (!Number.isInteger(retention) || retention < 1) throw new CliError('--retention must be a positive whole number');
    const percent = Number(flags.percent);
    if (!(percent >= 0 && percent <= 100)) throw new CliError('--percent must be between 0 and 100');
    const patchFromVersions = Number(flags.patchFromVersions);
    if (!Number.isInteger(patchFromVersions) || patchFromVersions < 0) throw new CliError('--patch-from-versions must be a whole number, 0 or more');
    // Patches only save agents bytes: a publisher without zstd still publishes, and is told so once.
    const patcher = patchFromVersions > 0 ? await zstdPatcher() : undefined;
    if (patchFromVersions > 0 && !patcher) console.error('zstd not found: publishing without binary patches (install zstd to make them)');

    const uploading = terminalProgress('uploading');
    const repository = await client.call<{ state: RepositoryState | null; bucket: string }>('GET', '/v1/admin/repository');
    const { s3, bucket } = await s3For(client.dataDir, repository.bucket);
    const summary = await publish(
      {
        objects: s3ObjectStore(s3, bucket),
        upload: s3Uploader(s3, bucket),
        repository: {
          targetsVersion: async () => (await client.call<{ state: RepositoryState | null }>('GET', '/v1/admin/repository')).state?.targetsVersion ?? 0,
          // An AdminApiError carries the service's code: publish retries REPOSITORY_MOVED_ON itself.
          commit: (body) => client.call<CommitResult>('POST', '/v1/admin/releases', body),
        },
        targetsSigner,
        patcher,
        now: () => new Date(),
        ...(!flags.json && uploading && { progress: (done: { files: number; bytes: number }, total: { files: number; bytes: number }) => uploading({ files: done.files, totalFiles: total.files, bytes: done.bytes, totalBytes: total.bytes }) }),
      },
      { product: flags.product, version: flags.version, dir: flags.dir, retention, patchFromVersions },
    ).catch((error: unknown) => {
      // The service's refusal, said as the service says it: `CONFLICT: ... already published ...`.
      throw error instanceof AdminApiError ? new CliError(`${error.code}: ${error.detail}`) : error;
    });
    let channel: Channel | undefined;
    if (flags.channel) {
      channel = (await client.call<{ channel: Channel }>('POST', `/v1/admin/channels/${flags.product}/${flags.channel}/promote`, { version: flags.version, percent })).channel;
    }
    s3.destroy();
    const result = { ...summary, ...(channel && { channel: channel.channel, percent: channel.percent }), durationMs: Date.now() - started };
    printRecord(summary.alreadyPublished ? `${flags.product} ${flags.version} was already published with this content.` : `Published ${flags.product} ${flags.version}.`, {
      files: `${summary.files} (${(summary.bytes / 1e6).toFixed(1)} MB)`,
      uploaded: `${summary.uploadedFiles} files, ${(summary.uploadedBytes / 1e6).toFixed(1)} MB (the rest was stored already)`,
      'targets version': summary.targetsVersion,
      'set manifest': summary.setManifest,
      patches: `${summary.patches} (${(summary.patchBytes / 1e6).toFixed(2)} MB)${summary.patchesDropped > 0 ? `, ${summary.patchesDropped} not kept (not under half their file, or zstd failed)` : ''}`,
      ...(channel && { channel: `${channel.channel} at ${channel.percent}%` }),
      time: `${((Date.now() - started) / 1000).toFixed(1)} s`,
    }, flags.json === true, result);
  });

  withServerOptions(
    program
      .command('promote')
      .description('point a channel at a published version, for a share of agents (waves); --percent 100 completes it')
      .requiredOption('--product <name>')
      .requiredOption('--version <version>')
      .requiredOption('--channel <name>')
      .option('--percent <n>', 'share of agents that get the version', '100'),
  ).action(async (flags: Flags & { product: string; version: string; channel: string; percent: string }) => {
    const percent = Number(flags.percent);
    if (!(percent >= 0 && percent <= 100)) throw new CliError('--percent must be between 0 and 100');
    const client = await adminClient(flags);
    const { channel } = await client.call<{ channel: Channel }>('POST', `/v1/admin/channels/${flags.product}/${flags.channel}/promote`, { version: flags.version, percent });
    printRecord(`${channel.product}/${channel.channel} now offers ${channel.version} to ${channel.percent}% of agents.`, channelLines(channel), flags.json === true, channel);
  });

  withServerOptions(
    program.command('halt').description('stop a rollout: agents keep (or go back to being offered) the previous version').requiredOption('--product <name>').requiredOption('--channel <name>'),
  ).action(async (flags: Flags & { product: string; channel: string }) => {
    const client = await adminClient(flags);
    const { channel } = await client.call<{ channel: Channel }>('POST', `/v1/admin/channels/${flags.product}/${flags.channel}/halt`);
    printRecord(`${channel.product}/${channel.channel}: rollout of ${channel.version} halted.`, channelLines(channel), flags.json === true, channel);
  });

  withServerOptions(program.command('audit').description('who changed what and when (licenses, blacklist, releases, channels)').option('--day <yyyy-mm-dd>', 'the day to list (UTC), default today')).action(
    async (flags: Flags & { day?: string }) => {
      const client = await adminClient(flags);
      const { entries } = await client.call<{ entries: Array<{ at: string; actor: string; action: string; subject: string; detail?: unknown }> }>('GET', `/v1/admin/audit${flags.day ? `?day=${encodeURIComponent(flags.day)}` : ''}`);
      if (flags.json) return console.log(JSON.stringify(entries, null, 2));
      for (const e of entries) console.log(`${e.at}  ${e.action.padEnd(18)} ${e.subject}  by ${e.actor}${e.detail ? `  ${JSON.stringify(e.detail)}` : ''}`);
    },
  );
}

function channelLines(channel: Channel): Record<string, unknown> {
  return { version: channel.version, percent: channel.percent, previous: channel.previousVersion ?? '(none)', status: channel.status, updated: `${channel.updatedAt} by ${channel.updatedBy}` };
}
