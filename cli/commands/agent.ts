/** `signet agent register|update|status`: the reference agent (library in agent/). */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { AgentError, readState, register, runDaemon, status, update } from '../../agent/index.ts';
import type { AgentState, AgentStatus, RegisterOptions, UpdateResult } from '../../agent/index.ts';
import { trimSlash } from '../../agent/client.ts';
import { DEFAULT_PATCH_MAX_FILE_BYTES } from '../../agent/patch.ts';
import { CliError } from '../errors.ts';
import { envOption, licenseKeyFrom, parseWholeNumber } from '../options.ts';
import { terminalProgress } from '../progress.ts';
import { DEFAULT_CHANNEL } from '#lib/delivery/manifest.ts';

function fail(error: unknown): never {
  if (error instanceof AgentError) throw new CliError(`${error.code === 'STOPPED' || error.code.startsWith('PROXY') ? '' : `${error.code}: `}${error.message}`);
  throw error;
}

const log = (line: string) => console.error(`signet agent: ${line}`);
const MIB = 1024 * 1024;

function describe(result: UpdateResult): string {
  if (result.result === 'up-to-date') return `up to date${result.version ? ` (${result.version})` : ''}`;
  return `installed ${result.version}${result.previousVersion ? ` (was ${result.previousVersion})` : ''}: ${result.files} files, ${result.downloadedFiles} downloaded (${result.downloadedBytes} bytes in ${(result.downloadMs / 1000).toFixed(2)} s), ${result.reusedFiles} unchanged${result.patchedFiles > 0 ? `, ${result.patchedFiles} from patches (${result.patchBytes} bytes)` : ''}${result.patchFallbacks.length > 0 ? `, ${result.patchFallbacks.length} patches given up for the whole file` : ''}`;
}

function printStatus(s: AgentStatus): void {
  console.log(`agent ${s.agentId ?? '(not registered)'} for ${s.product} on ${s.channel} at ${s.server}`);
  console.log(`installed: ${s.installedVersion ? `${s.installedVersion} (${s.installedAt}) in ${s.installedPath}` : 'nothing yet'}`);
  if (s.lastResult) console.log(`last result: ${s.lastResult.result}${s.lastResult.version ? ` ${s.lastResult.version}` : ''} at ${s.lastResult.at}${s.lastResult.detail ? `: ${s.lastResult.detail}` : ''}`);
  if (s.stopped) console.log(`STOPPED: ${s.stopped.code}: ${s.stopped.message} (run \`signet agent register\` again once resolved)`);
  if (s.registrationError) console.log(`registration pending: ${s.registrationError.code}: ${s.registrationError.message} (retried by the next update)`);
  if (s.proxy) console.log(`proxy: ${s.proxy}`);
}

/** The flags that say how to register, shared by `register` and `update`. */
interface RegistrationFlags {
  server?: string;
  license?: string;
  licenseFile?: string;
  product?: string;
  channel?: string;
  root?: string;
  dataDir?: string;
  proxyConf?: string;
  machineId?: string;
}

/** The registration flags; `register` requires a license and --product, `update` only when it registers. */
function registrationOptions(command: Command): Command {
  return command
    .option('--server <url>', 'the service (env SIGNET_SERVER); default: the local stack of --data-dir')
    .addOption(envOption('--license <key>', 'the license key (kept in the install dir, mode 0600)', 'SIGNET_LICENSE_KEY'))
    .addOption(envOption('--license-file <file>', 'the license key from a file (a systemd credential, say), instead of --license', 'SIGNET_LICENSE_FILE'))
    .addOption(envOption('--product <name>', 'the product, e.g. demo-av', 'SIGNET_PRODUCT'))
    .addOption(envOption('--root <file>', "the trusted TUF root.json; default with --data-dir: the local stack's", 'SIGNET_ROOT'))
    .option('--data-dir <dir>', "a local stack's data dir (env SIGNET_DATA_DIR): its URL and root.json")
    .option('--machine-id <id>', 'default: /etc/machine-id, else a generated id kept in the state');
}

/** The flags with the key of --license-file in --license's place. */
async function withLicenseKey<T extends RegistrationFlags>(flags: T): Promise<Omit<T, 'licenseFile'>> {
  const { licenseFile, ...rest } = flags;
  const license = await licenseKeyFrom({ ...(flags.license !== undefined && { license: flags.license }), ...(licenseFile !== undefined && { licenseFile }) });
  return { ...rest, ...(license !== undefined && { license }) };
}

/** What register() needs, from the flags, the environment, and a local stack's data dir. */
async function registrationFrom(dir: string, flags: RegistrationFlags & { license: string; product: string }): Promise<RegisterOptions> {
  const dataDir = flags.dataDir ?? process.env.SIGNET_DATA_DIR;
  let server = flags.server ?? process.env.SIGNET_SERVER;
  if (!server && dataDir) {
    const demo = await readFile(join(resolve(dataDir), 'demo.json'), 'utf8').catch(() => undefined);
    if (demo) server = (JSON.parse(demo) as { baseUrl?: string }).baseUrl;
  }
  if (!server) throw new CliError('no server: pass --server URL (or --data-dir of a local stack)');
  const root = flags.root ?? (dataDir ? join(resolve(dataDir), 'root.json') : undefined);
  return {
    dir,
    server,
    licenseKey: flags.license,
    product: flags.product,
    ...(flags.channel && { channel: flags.channel }),
    ...(root && { root }),
    ...(flags.proxyConf && { proxyConf: flags.proxyConf }),
    ...(flags.machineId && { machineId: flags.machineId }),
    log,
  };
}

/**
 * Where `update` was given registration flags and DIR already holds a registered agent:
 * the flags must describe that agent (--root and --data-dir are read only to register).
 * Another server, product, license, channel or machine is refused rather than quietly
 * ignored or quietly re-registered, which would take a seat elsewhere and void this
 * agent's token: re-registering is `signet agent register`'s, on purpose.
 */
function refuseOtherAgent(dir: string, state: AgentState, flags: RegistrationFlags): void {
  const differs: string[] = [];
  if (flags.server !== undefined && trimSlash(flags.server) !== state.server) differs.push(`server ${state.server}`);
  if (flags.product !== undefined && flags.product !== state.product) differs.push(`product ${state.product}`);
  if (flags.channel !== undefined && flags.channel !== (state.channel ?? DEFAULT_CHANNEL)) differs.push(`channel ${state.channel ?? DEFAULT_CHANNEL}`);
  if (flags.machineId !== undefined && flags.machineId !== state.machineId) differs.push(`machine ${state.machineId}`);
  if (flags.license !== undefined && flags.license !== state.licenseKey) differs.push('another license key');
  if (differs.length > 0) {
    throw new CliError(`${dir} holds an agent for ${differs.join(', ')}: use another --dir, or \`signet agent register\` to re-register this one on purpose`);
  }
}

/**
 * `update` with registration flags registers first when DIR holds no registered agent
 * (nothing, or a registration that never succeeded); the registration it made, if any.
 */
async function registerIfNeeded(dir: string, flags: Omit<RegistrationFlags, 'proxyConf'>, proxyConf: string | undefined): Promise<AgentState | undefined> {
  if (Object.values(flags).every((value) => value === undefined)) return undefined;
  const state = await readState(resolve(dir));
  if (state?.agentId) {
    refuseOtherAgent(dir, state, flags);
    return undefined;
  }
  const { license, product } = flags;
  if (license === undefined || product === undefined) {
    throw new CliError(`no agent in ${dir} yet: to register first, update needs --license KEY and --product P too (and --server URL or --data-dir)`);
  }
  return register(await registrationFrom(dir, { ...flags, license, product, proxyConf })).catch(fail);
}

export function registerAgent(program: Command): void {
  const agent = program.command('agent').description('the reference agent: register, update and verify a signature set');

  registrationOptions(
    agent
      .command('register')
      .description('register this computer for a product (takes a seat) and prepare the install dir')
      .requiredOption('--dir <dir>', 'the install dir: state, trusted root, installed set (DIR/current)'),
  )
    .option('--channel <name>', 'the channel to follow', DEFAULT_CHANNEL)
    .addOption(envOption('--proxy-conf <file>', 'a proxy.conf (proxy:port:user:password) for every request', 'SIGNET_PROXY_CONF'))
    .option('--json', 'print JSON')
    .action(async (given: RegistrationFlags & { dir: string; json?: boolean }) => {
      const flags = await withLicenseKey(given);
      const { license, product } = flags;
      if (license === undefined || product === undefined) throw new CliError('register needs --license KEY (or --license-file FILE) and --product P');
      const state = await register(await registrationFrom(flags.dir, { ...flags, license, product })).catch(fail);
      if (flags.json) return console.log(JSON.stringify({ agentId: state.agentId, product: state.product, machineId: state.machineId, pollSeconds: state.pollSeconds }, null, 2));
      console.log(`registered agent ${state.agentId} for ${state.product} (machine ${state.machineId}); next: signet agent update --dir ${flags.dir}`);
    });

  registrationOptions(
    agent
      .command('update')
      .description('check for a new version; download, verify (TUF) and install it atomically. With --license and --product (and --server or --data-dir), register first when DIR holds no agent; given for a DIR that holds one, they must match it')
      .requiredOption('--dir <dir>', 'the install dir'),
  )
    .option('--channel <name>', `the channel to follow, when it registers (default ${DEFAULT_CHANNEL})`)
    .addOption(envOption('--proxy-conf <file>', 'a proxy.conf for this run (default: the one given at registration; kept when it registers)', 'SIGNET_PROXY_CONF'))
    .option('--daemon', "keep polling once per the server's pollSeconds, at this agent's own moment of it, until SIGINT/SIGTERM")
    .option('--force', 'run even if an earlier answer stopped updates, and ask for the manifest even if nothing changed')
    .addOption(envOption('--no-patches', 'download changed files whole, never from binary patches', 'SIGNET_NO_PATCHES'))
    .addOption(envOption('--patch-max-mb <n>', `download files over N MiB whole: applying a patch holds about 5x the file in memory (default ${DEFAULT_PATCH_MAX_FILE_BYTES / MIB})`, 'SIGNET_PATCH_MAX_MB'))
    .option('--json', 'print JSON (one line per attempt with --daemon)')
    .action(async (given: RegistrationFlags & { dir: string; daemon?: boolean; force?: boolean; json?: boolean; patches: boolean; patchMaxMb?: string }) => {
      const { dir, daemon, force, json, proxyConf, patches, patchMaxMb, ...registration } = await withLicenseKey(given);
      const patchMaxFileBytes = patchMaxMb === undefined ? undefined : MIB * parseWholeNumber(patchMaxMb, '--patch-max-mb', 'a size in MiB', 1, 1 << 20);
      const registered = await registerIfNeeded(dir, registration, proxyConf);
      if (registered && !json) console.log(`registered agent ${registered.agentId} for ${registered.product} (machine ${registered.machineId})`);
      const common = { dir, ...(proxyConf && { proxyConf }), log, ...(!patches && { patches: false }), ...(patchMaxFileBytes !== undefined && { patchMaxFileBytes }) };
      if (!daemon) {
        const onProgress = json ? undefined : terminalProgress('downloading');
        const result = await update({ ...common, ...(force && { force: true }), ...(onProgress && { onProgress }) }).catch(fail);
        const registeredNow = registered && { registered: { agentId: registered.agentId, machineId: registered.machineId } };
        return console.log(json ? JSON.stringify({ ...result, ...registeredNow }, null, 2) : describe(result));
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
            if (json) console.log(JSON.stringify({ at, error: { code: outcome.code, message: outcome.message } }));
            else console.error(`${at} ${outcome.code}: ${outcome.message}`);
          } else console.log(json ? JSON.stringify({ at, ...outcome }) : `${at} ${describe(outcome)}`);
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
