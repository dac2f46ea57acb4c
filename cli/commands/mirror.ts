/** `signet mirror serve|status|export|import`: a site's update server (library in mirror/). */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { exportFromMirror, exportMirrorReports, importIntoMirror, MirrorError, mirrorRateKeys, startMirror } from '../../mirror/index.ts';
import { fileSystemFailure } from '../../mirror/errors.ts';
import { mirrorStatus } from '../../mirror/status.ts';
import { openAccessLog } from '../access-log.ts';
import { runtimeSettingsFromEnv } from '#lib/config.ts';
import { MAX_LEASE_DAYS } from '#lib/mirror/lease.ts';
import { DEFAULT_MAX_CONNECTIONS } from '#lib/edge/server.ts';
import { AgentError } from '../../agent/errors.ts';
import { CliError } from '../errors.ts';
import { terminalProgress } from '../progress.ts';
import { printRecord } from '../output.ts';
import { envOption, licenseKeyFrom, parsePort, parseWholeNumber } from '../options.ts';

export const DEFAULT_MIRROR_DIR = '.signet-mirror';

interface ServeFlags {
  upstream?: string;
  license?: string;
  licenseFile?: string;
  seats?: string;
  root?: string;
  port: string;
  host: string;
  dataDir: string;
  tlsCert?: string;
  tlsKey?: string;
  proxyConf?: string;
  pollSeconds: string;
  keep: string;
  accessLog?: string;
  maxConnections: string;
  quiet?: boolean;
}

function rethrowAsCliError(error: unknown): never {
  const failure = fileSystemFailure(error) ?? error;
  throw failure instanceof MirrorError || failure instanceof AgentError ? new CliError(failure.message) : failure;
}

/** The mirror's and the agent's refusals are the operator's to read: one line, no stack. */
async function asCliError(work: () => Promise<void>): Promise<void> {
  await work().catch(rethrowAsCliError);
}

async function readPem(file: string, what: string): Promise<Buffer> {
  return readFile(file).catch(() => {
    throw new CliError(`cannot read the ${what} ${file}`);
  });
}

/** Runs `work` until SIGINT or SIGTERM, then `stop`; a second signal exits at once. */
async function untilSignal(stop: () => Promise<void>, name: string): Promise<void> {
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (s: NodeJS.Signals) => {
      process.on(s, () => process.exit(130));
      resolve(s);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  console.log(`${name}: ${signal}, stopping`);
  await stop();
  console.log(`${name}: stopped`);
}

export function registerMirror(program: Command): void {
  const mirror = program.command('mirror').description('a site\'s update server: syncs from the service or another mirror, serves agents, carries updates into isolated segments');

  mirror
    .command('serve')
    .description('sync from --upstream (or serve what was imported) and serve agents on --port')
    .addOption(envOption('--upstream <url>', 'the service (its CloudFront URL) or another mirror', 'SIGNET_MIRROR_UPSTREAM'))
    .addOption(envOption('--license <key>', 'the license the mirror serves under (kept in the data dir, 0600)', 'SIGNET_LICENSE_KEY'))
    .addOption(envOption('--license-file <file>', 'the license key from a file (a systemd credential, say), instead of --license', 'SIGNET_LICENSE_FILE'))
    .addOption(envOption('--seats <n>', 'seats of the license to assign to this mirror (taken from the license upstream)', 'SIGNET_MIRROR_SEATS'))
    .addOption(envOption('--root <file>', 'the TUF root.json to trust, on the first start', 'SIGNET_ROOT'))
    .addOption(envOption('--port <n>', 'port to serve on', 'SIGNET_MIRROR_PORT', '8090'))
    .addOption(envOption('--host <address>', 'address to listen on', 'SIGNET_MIRROR_HOST', '0.0.0.0'))
    .addOption(envOption('--data-dir <dir>', 'where the mirror keeps what it serves', 'SIGNET_MIRROR_DIR', DEFAULT_MIRROR_DIR))
    .addOption(envOption('--tls-cert <file>', 'serve HTTPS with this certificate (PEM, chain after the leaf)', 'SIGNET_MIRROR_TLS_CERT'))
    .addOption(envOption('--tls-key <file>', 'the certificate\'s private key (PEM)', 'SIGNET_MIRROR_TLS_KEY'))
    .addOption(envOption('--proxy-conf <file>', 'reach the upstream through the proxy in this file (proxy:port:user:password); else HTTPS_PROXY', 'SIGNET_PROXY_CONF'))
    .addOption(envOption('--poll-seconds <n>', 'how often to ask the upstream for something new', 'SIGNET_MIRROR_POLL_SECONDS', '300'))
    .addOption(envOption('--keep <n>', 'versions to hold per product besides the channels\' (agents that far behind still fetch only what changed)', 'SIGNET_MIRROR_KEEP', '5'))
    .addOption(envOption('--access-log <file>', 'append one line per request: ISO time, method, path (no query), status, body bytes, ms', 'SIGNET_MIRROR_ACCESS_LOG'))
    .addOption(envOption('--max-connections <n>', 'connections served at once; beyond them a request is answered 503 with Retry-After (memory grows with this: docs/mirror.md, "Memory bound")', 'SIGNET_MIRROR_MAX_CONNECTIONS', String(DEFAULT_MAX_CONNECTIONS)))
    .option('--quiet', 'no event lines on stdout')
    .action(async (flags: ServeFlags) => {
      if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) throw new CliError('--tls-cert and --tls-key go together');
      if (flags.upstream !== undefined && !URL.canParse(flags.upstream)) throw new CliError(`--upstream: not a URL: "${flags.upstream}"`);
      const licenseKey = await licenseKeyFrom(flags);
      const accessLog = flags.accessLog === undefined ? undefined : await openAccessLog(flags.accessLog, 'signet mirror');
      const syncing = flags.quiet ? undefined : terminalProgress('syncing');
      const running = await startMirror({
        dir: flags.dataDir,
        port: parsePort(flags.port, '--port', 8090),
        host: flags.host,
        ...(flags.upstream !== undefined && { upstream: flags.upstream }),
        ...(licenseKey !== undefined && { licenseKey }),
        ...(flags.seats !== undefined && { seats: parseWholeNumber(flags.seats, '--seats', 'a whole number', 0, 100_000) }),
        ...(flags.root !== undefined && { root: flags.root }),
        ...(flags.tlsCert !== undefined && flags.tlsKey !== undefined && { tls: { cert: await readPem(flags.tlsCert, 'certificate'), key: await readPem(flags.tlsKey, 'key') } }),
        ...(flags.proxyConf !== undefined && { proxyConf: flags.proxyConf }),
        pollSeconds: parseWholeNumber(flags.pollSeconds, '--poll-seconds', 'a whole number of seconds', 5, 86_400),
        keep: parseWholeNumber(flags.keep, '--keep', 'a whole number', 1, 100),
        maxConnections: parseWholeNumber(flags.maxConnections, '--max-connections', 'a whole number', 1, 100_000),
        ...(!flags.quiet && { log: (line: string) => console.log(`  ${new Date().toISOString()} ${line}`) }),
        ...(accessLog && { accessLog: accessLog.write }),
        ...(syncing && { onProgress: syncing }),
        // The service's variables for the same limits (lib/config.ts), as `signet local` reads them.
        rateLimits: runtimeSettingsFromEnv(process.env, mirrorRateKeys),
      }).catch(rethrowAsCliError);
      const status = await mirrorStatus(flags.dataDir);
      console.log(`signet mirror ready: ${running.url}`);
      console.log(`  mirror ${running.config.mirrorId}${running.config.upstream ? `, upstream ${running.config.upstream}` : ', no upstream (serves what is imported)'}; data in ${flags.dataDir}`);
      console.log(`  last sync: ${status.sync ? `${status.sync.result} at ${status.sync.at}${status.sync.detail ? ` (${status.sync.detail})` : ''}` : 'none yet'}`);
      console.log(`  agents: signet agent update --server ${running.url} --license <key> --product <p> --dir <dir> --root <root.json>`);
      console.log('  stop: Ctrl-C');
      await untilSignal(async () => {
        await running.stop();
        await accessLog?.close();
      }, 'signet mirror');
    });

  mirror
    .command('export')
    .description('write a bundle that carries updates to an isolated mirror (or, with --reports, its agents\' reports back out)')
    .requiredOption('--out <file>', 'the bundle file to write')
    .option('--for <mirror-id>', 'the isolated mirror it is for (its `signet mirror status` shows the id)')
    .option('--seats <n>', 'seats of the license to assign to the isolated mirror')
    .option('--valid-days <n>', 'how long its metadata and lease stay valid there: how stale it may get before it refuses (1-30)', '7')
    .option('--since <version>', 'leave out the files of versions up to this one (the isolated side has them)')
    .option('--reports', 'on the isolated mirror: write its agents\' reports, for `import` on a mirror that reaches the service')
    .option('--data-dir <dir>', 'the mirror\'s data dir', DEFAULT_MIRROR_DIR)
    .action(async (flags: { out: string; for?: string; seats?: string; validDays: string; since?: string; reports?: boolean; dataDir: string }) => {
      await asCliError(async () => {
        if (flags.reports) {
          const count = await exportMirrorReports(flags.dataDir, flags.out);
          console.log(`wrote ${flags.out}: ${count} reports; carry it to a mirror that reaches the service and run signet mirror import ${flags.out} there`);
          return;
        }
        if (flags.for === undefined || !/^[0-9a-f]{32}$/.test(flags.for)) throw new CliError('--for: the isolated mirror\'s id (32 hex characters; its signet mirror status shows it)');
        if (flags.seats === undefined) throw new CliError('--seats: how many of the license\'s seats the isolated mirror may hand out');
        const manifest = await exportFromMirror(flags.dataDir, {
          out: flags.out,
          forMirror: flags.for,
          seats: parseWholeNumber(flags.seats, '--seats', 'a whole number', 1, 100_000),
          validDays: parseWholeNumber(flags.validDays, '--valid-days', 'a whole number of days', 1, MAX_LEASE_DAYS),
          ...(flags.since !== undefined && { since: flags.since }),
        });
        const files = manifest.entries.filter((e) => e.name.startsWith('store/'));
        const bytes = manifest.entries.reduce((sum, e) => sum + e.length, 0);
        const versions = Object.entries(manifest.versions).map(([p, v]) => `${p} ${Object.keys(v).join(', ')}`).join('; ');
        console.log(`wrote ${flags.out}: ${(bytes / 1e6).toFixed(1)} MB, ${files.length} files; ${versions}`);
        console.log(`  for mirror ${manifest.for}, valid ${flags.validDays} days; there: signet mirror import ${flags.out}`);
      });
    });

  mirror
    .command('import')
    .description('take a bundle (or a reports file from an isolated mirror): verified whole before anything changes')
    .argument('<file>', 'the bundle')
    .option('--license <key>', 'the license the mirror serves (checked against the bundle\'s; kept only as its id)')
    .option('--data-dir <dir>', 'the mirror\'s data dir', DEFAULT_MIRROR_DIR)
    .action(async (file: string, flags: { license?: string; dataDir: string }) => {
      await asCliError(async () => {
        const result = await importIntoMirror(flags.dataDir, file, flags.license);
        if (result.kind === 'reports') {
          console.log(`queued ${result.reports} reports: they go upstream with the next sync`);
          return;
        }
        const versions = Object.entries(result.versions ?? {}).map(([p, v]) => `${p} ${v.join(', ')}`).join('; ');
        if (result.unchanged) {
          console.log(`${file} was imported already: nothing changed (metadata valid until ${result.metadataExpiresAt}, lease until ${result.leaseExpiresAt})`);
          return;
        }
        console.log(`imported ${file}: ${versions}; ${result.files} new files`);
        console.log(`  metadata valid until ${result.metadataExpiresAt}, lease until ${result.leaseExpiresAt}: import a newer bundle before then`);
      });
    });

  mirror
    .command('status')
    .description('sync state, versions held, disk used, lease, agents seen')
    .option('--data-dir <dir>', 'the mirror\'s data dir', DEFAULT_MIRROR_DIR)
    .option('--json', 'print JSON')
    .action(async (flags: { dataDir: string; json?: boolean }) => {
      const status = await mirrorStatus(flags.dataDir);
      if (!status.mirrorId) throw new CliError(`${flags.dataDir} holds no mirror: start one with signet mirror serve`);
      const lease = status.lease;
      printRecord(
        `mirror ${status.mirrorId}`,
        {
          upstream: status.upstream ?? '(none: serves what is imported)',
          'last sync': status.sync ? `${status.sync.result} at ${status.sync.at}${status.sync.detail ? ` (${status.sync.detail})` : ''}` : 'none yet',
          'last success': status.sync?.lastSuccessAt ?? 'never',
          'snapshot version': status.snapshotVersion ?? '-',
          versions: Object.entries(status.versions).map(([p, v]) => `${p} ${v.join(', ')}`).join('; ') || '(none)',
          disk: `${(status.storeBytes / 1e6).toFixed(1)} MB in ${status.storeFiles} files`,
          lease: lease ? `license ${lease.licenseId}, ${lease.seatsUsed}/${lease.seats} seats, expires ${lease.expiresAt}${lease.expired ? ' (EXPIRED)' : ''}` : '(none)',
          agents: `${status.agents.active} active, ${status.agents.total} seen; ${status.pendingReports} reports waiting for the upstream`,
        },
        flags.json === true,
        status,
      );
    });
}

