/** `signet agent register|update|status`: the reference agent (library in agent/). */
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { AgentError, register, runDaemon, status, update } from '../../agent/index.ts';
import type { AgentOptions, AgentStatus, UpdateResult } from '../../agent/index.ts';
import { CliError } from '../errors.ts';
import { DEFAULT_CHANNEL } from '#lib/delivery/manifest.ts';

function fail(error: unknown): never {
  if (error instanceof AgentError) throw new CliError(`${error.code === 'STOPPED' || error.code.startsWith('PROXY') ? '' : `${error.code}: `}${error.message}`);
  throw error;
}

function progress(): AgentOptions['onProgress'] {
  if (!process.stderr.isTTY) return undefined;
  return ({ files, totalFiles, bytes, totalBytes }) => {
    process.stderr.write(`\r  downloading ${files}/${totalFiles} files, ${(bytes / 1e6).toFixed(1)}/${(totalBytes / 1e6).toFixed(1)} MB   `);
    if (files === totalFiles) process.stderr.write('\n');
  };
}

const log = (line: string) => console.error(`signet agent: ${line}`);

function describe(result: UpdateResult): string {
  if (result.result === 'up-to-date') return `up to date${result.version ? ` (${result.version})` : ''}`;
  return `installed ${result.version}${result.previousVersion ? ` (was ${result.previousVersion})` : ''}: ${result.files} files, ${result.downloadedFiles} downloaded (${result.downloadedBytes} bytes in ${(result.downloadMs / 1000).toFixed(2)} s), ${result.reusedFiles} unchanged`;
}

function printStatus(s: AgentStatus): void {
  console.log(`agent ${s.agentId ?? '(not registered)'} for ${s.product} on ${s.channel} at ${s.server}`);
  console.log(`installed: ${s.installedVersion ? `${s.installedVersion} (${s.installedAt}) in ${s.installedPath}` : 'nothing yet'}`);
  if (s.lastResult) console.log(`last result: ${s.lastResult.result}${s.lastResult.version ? ` ${s.lastResult.version}` : ''} at ${s.lastResult.at}${s.lastResult.detail ? `: ${s.lastResult.detail}` : ''}`);
  if (s.stopped) console.log(`STOPPED: ${s.stopped.code}: ${s.stopped.message} (run \`signet agent register\` again once resolved)`);
  if (s.registrationError) console.log(`registration pending: ${s.registrationError.code}: ${s.registrationError.message} (retried by the next update)`);
  if (s.proxy) console.log(`proxy: ${s.proxy}`);
}

export function registerAgent(program: Command): void {
  const agent = program.command('agent').description('the reference agent: register, update and verify a signature set');

  agent
    .command('register')
    .description('register this computer for a product (takes a seat) and prepare the install dir')
    .option('--server <url>', 'the service (env SIGNET_SERVER); default: the local stack of --data-dir')
    .requiredOption('--license <key>', 'the license key (kept in the install dir, mode 0600)')
    .requiredOption('--product <name>', 'the product, e.g. demo-av')
    .requiredOption('--dir <dir>', 'the install dir: state, trusted root, installed set (DIR/current)')
    .option('--channel <name>', 'the channel to follow', DEFAULT_CHANNEL)
    .option('--root <file>', "the trusted TUF root.json; default with --data-dir: the local stack's")
    .option('--data-dir <dir>', "a local stack's data dir (env SIGNET_DATA_DIR): its URL and root.json")
    .option('--proxy-conf <file>', 'a proxy.conf (proxy:port:user:password) for every request')
    .option('--machine-id <id>', 'default: /etc/machine-id, else a generated id kept in the state')
    .option('--json', 'print JSON')
    .action(async (flags: { server?: string; license: string; product: string; dir: string; channel: string; root?: string; dataDir?: string; proxyConf?: string; machineId?: string; json?: boolean }) => {
      const dataDir = flags.dataDir ?? process.env.SIGNET_DATA_DIR;
      let server = flags.server ?? process.env.SIGNET_SERVER;
      if (!server && dataDir) {
        const demo = await import('node:fs/promises').then((fs) => fs.readFile(join(resolve(dataDir), 'demo.json'), 'utf8')).catch(() => undefined);
        if (demo) server = (JSON.parse(demo) as { baseUrl?: string }).baseUrl;
      }
      if (!server) throw new CliError('no server: pass --server URL (or --data-dir of a local stack)');
      const root = flags.root ?? (dataDir ? join(resolve(dataDir), 'root.json') : undefined);
      const state = await register({
        dir: flags.dir,
        server,
        licenseKey: flags.license,
        product: flags.product,
        channel: flags.channel,
        ...(root && { root }),
        ...(flags.proxyConf && { proxyConf: flags.proxyConf }),
        ...(flags.machineId && { machineId: flags.machineId }),
        log,
      }).catch(fail);
      if (flags.json) return console.log(JSON.stringify({ agentId: state.agentId, product: state.product, machineId: state.machineId, pollSeconds: state.pollSeconds }, null, 2));
      console.log(`registered agent ${state.agentId} for ${state.product} (machine ${state.machineId}); next: signet agent update --dir ${flags.dir}`);
    });

  agent
    .command('update')
    .description('check for a new version; download, verify (TUF) and install it atomically')
    .requiredOption('--dir <dir>', 'the install dir given to register')
    .option('--proxy-conf <file>', 'a proxy.conf for this run (default: the one given to register)')
    .option('--daemon', "keep polling once per the server's pollSeconds, at this agent's own moment of it, until SIGINT/SIGTERM")
    .option('--force', 'run even if an earlier answer stopped updates, and ask for the manifest even if nothing changed')
    .option('--json', 'print JSON (one line per attempt with --daemon)')
    .action(async (flags: { dir: string; proxyConf?: string; daemon?: boolean; force?: boolean; json?: boolean }) => {
      const common = { dir: flags.dir, ...(flags.proxyConf && { proxyConf: flags.proxyConf }), log };
      if (!flags.daemon) {
        const onProgress = flags.json ? undefined : progress();
        const result = await update({ ...common, ...(flags.force && { force: true }), ...(onProgress && { onProgress }) }).catch(fail);
        return console.log(flags.json ? JSON.stringify(result, null, 2) : describe(result));
      }
      const controller = new AbortController();
      const stop = () => controller.abort(new Error('stopped by signal'));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await runDaemon({
        ...common,
        signal: controller.signal,
        onCycle: (outcome) => {
          const at = new Date().toISOString();
          if (outcome instanceof AgentError) {
            if (flags.json) console.log(JSON.stringify({ at, error: { code: outcome.code, message: outcome.message } }));
            else console.error(`${at} ${outcome.code}: ${outcome.message}`);
          } else console.log(flags.json ? JSON.stringify({ at, ...outcome }) : `${at} ${describe(outcome)}`);
        },
      });
    });

  agent
    .command('status')
    .description("the agent's state: registration, installed version, last result, stop")
    .requiredOption('--dir <dir>', 'the install dir')
    .option('--json', 'print JSON')
    .action(async (flags: { dir: string; json?: boolean }) => {
      const s = await status(flags.dir).catch(fail);
      if (flags.json) console.log(JSON.stringify(s, null, 2));
      else printStatus(s);
    });
}
