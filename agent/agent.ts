/**
 * The reference agent: register, update, status, daemon. See docs/agent-protocol.md for
 * the protocol this implements step by step.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { TargetFile } from 'tuf-js';
import { Updater } from 'tuf-js';
import { backoffDelay, pollDelay, sleep } from './backoff.ts';
import { AgentError, STOP_CODES } from './errors.ts';
import type { HttpOptions } from './http.ts';
import { HttpClient, answerError } from './http.ts';
import type { DownloadStats } from './download.ts';
import { downloadToStore, fetchVerified } from './download.ts';
import { inStore, storePath } from './file-store.ts';
import type { ProxySettings } from './proxy.ts';
import { parseProxyConf, proxyLabel } from './proxy.ts';
import type { AgentState, LastResult } from './state.ts';
import { readState, updateState, writeFileAtomic, writeState } from './state.ts';
import { assembleSet, collectGarbage, currentSet, switchCurrent } from './switch.ts';
import { AgentFetcher, withQuery } from './tuf-fetcher.ts';
import type { Manifest } from '#lib/delivery/manifest.ts';
import { withoutControlCharacters } from '#lib/http/text.ts';
import { compareVersions } from '#lib/releases/versions.ts';

export const AGENT_VERSION = '0.1.0';
const TRUSTED_ROOT = 'trusted-root.json';
const TUF_DIR = 'tuf';

/** Options every call takes. */
export interface AgentOptions {
  /** The install directory: state, trusted root, TUF metadata, store and installed sets. */
  readonly dir: string;
  /** HTTP settings (backoff, timeouts, a fetch replacement, an abort signal, environment for proxies). */
  readonly http?: Omit<HttpOptions, 'proxy'>;
  /** A proxy.conf path for this call, overriding the one kept in the state. */
  readonly proxyConf?: string;
  /** Progress: bytes received for the files of an update. */
  readonly onProgress?: (progress: { files: number; totalFiles: number; bytes: number; totalBytes: number }) => void;
  /** One-line notes (retries, re-registration), for a log. */
  readonly log?: (line: string) => void;
}

export interface RegisterOptions extends AgentOptions {
  readonly server: string;
  readonly licenseKey: string;
  readonly product: string;
  readonly channel?: string;
  /** The trusted root.json to install with; optional when the dir already has one. */
  readonly root?: string;
  readonly machineId?: string;
}

export interface UpdateOptions extends AgentOptions {
  /** Run even though an earlier answer stopped updates, and ask for the manifest even if timestamp.json did not change. */
  readonly force?: boolean;
}

export type UpdateResult =
  | { readonly result: 'up-to-date'; readonly version?: string; readonly manifestRequested: boolean }
  | {
      readonly result: 'installed';
      readonly version: string;
      readonly previousVersion?: string;
      readonly files: number;
      /** Files already in the store (unchanged since an earlier version): not downloaded. */
      readonly reusedFiles: number;
      readonly downloadedFiles: number;
      /** Bytes of the listed files received (the set manifest's are apart). */
      readonly downloadedBytes: number;
      readonly setManifestBytes: number;
      readonly resumedDownloads: number;
      /** Wall time of the file downloads (fetch, hash, write, fsync, verify), ms: downloadedBytes / downloadMs is the download throughput. */
      readonly downloadMs: number;
      readonly path: string;
    };

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


const now = () => new Date().toISOString();
const trimSlash = (url: string) => url.replace(/\/+$/, '');

/** /etc/machine-id (or the D-Bus one) when there is one. */
async function systemMachineId(): Promise<string | undefined> {
  for (const file of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    const id = (await readFile(file, 'utf8').catch(() => '')).trim();
    if (/^[A-Za-z0-9._:{}-]{1,128}$/.test(id)) return id;
  }
  return undefined;
}

async function loadProxy(path: string | undefined): Promise<ProxySettings | undefined> {
  if (!path) return undefined;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new AgentError('PROXY_CONF', `cannot read the proxy configuration ${path}`);
  }
  try {
    return parseProxyConf(text);
  } catch (error) {
    throw new AgentError('PROXY_CONF', `${path}: ${(error as Error).message}`);
  }
}

async function clientFor(state: Pick<AgentState, 'proxyConf'>, options: AgentOptions): Promise<HttpClient> {
  const proxy = await loadProxy(options.proxyConf ? resolve(options.proxyConf) : state.proxyConf);
  return new HttpClient({
    ...options.http,
    ...(proxy && { proxy }),
    userAgent: `signet-agent/${AGENT_VERSION}`,
    onRetry: (info) => {
      options.log?.(`retrying in ${(info.delayMs / 1000).toFixed(1)} s (attempt ${info.attempt + 1}): ${info.error.message}`);
      options.http?.onRetry?.(info);
    },
  });
}

/** POST /v1/agents with the state's registration data; saves the token (or why it failed). */
async function registerWith(dir: string, state: AgentState, http: HttpClient): Promise<AgentState> {
  // The service refuses control characters in free text; a hostname should have none anyway.
  const host = withoutControlCharacters(osHostname()).trim().slice(0, 253);
  try {
    const answer = await http.api<{ agentId: string; token: string; pollSeconds: number }>('POST', `${state.server}/v1/agents`, {
      licenseKey: state.licenseKey,
      machineId: state.machineId,
      product: state.product,
      os: process.platform,
      arch: process.arch,
      ...(host && { hostname: host }),
      agentVersion: AGENT_VERSION,
    });
    return await updateState(dir, { agentId: answer.body.agentId, token: answer.body.token, pollSeconds: answer.body.pollSeconds, registrationError: undefined, stopped: undefined });
  } catch (error) {
    const failure = error instanceof AgentError ? error : new AgentError('REGISTRATION_FAILED', String(error));
    if (failure.stops) {
      await updateState(dir, { stopped: { code: failure.code, message: failure.message, at: now() }, lastResult: { at: now(), result: 'stopped', detail: `${failure.code}: ${failure.message}` } });
    } else {
      await updateState(dir, { registrationError: { code: failure.code, message: failure.message, at: now() } });
    }
    throw failure;
  }
}

/**
 * Registers this computer (takes a seat) and prepares the install dir: the state file
 * (0600), the trusted root and the TUF metadata dir seeded with it. Registering again
 * clears a stop and gets a new token; the installed set stays.
 */
export async function register(options: RegisterOptions): Promise<AgentState> {
  const dir = resolve(options.dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await mkdir(join(dir, TUF_DIR), { recursive: true, mode: 0o700 });
  const existing = await readState(dir);
  if (options.root) {
    const bytes = await readFile(options.root).catch(() => {
      throw new AgentError('INVALID_ROOT', `cannot read the trusted root ${options.root}`);
    });
    let parsed: { signed?: { _type?: unknown } };
    try {
      parsed = JSON.parse(bytes.toString('utf8')) as typeof parsed;
    } catch {
      throw new AgentError('INVALID_ROOT', `${options.root} is not JSON`);
    }
    if (parsed.signed?._type !== 'root') throw new AgentError('INVALID_ROOT', `${options.root} is not TUF root metadata`);
    await writeFileAtomic(join(dir, TRUSTED_ROOT), bytes, 0o644);
    const tufRoot = join(dir, TUF_DIR, 'root.json');
    // A metadata dir that already walked to a newer root keeps it (rollback protection).
    if (!(await stat(tufRoot).catch(() => undefined))) await writeFileAtomic(tufRoot, bytes, 0o644);
  } else if (!(await stat(join(dir, TUF_DIR, 'root.json')).catch(() => undefined))) {
    throw new AgentError('INVALID_ROOT', 'no trusted root: pass the root.json to install with (--root FILE)');
  }
  const sameProduct = existing?.product === options.product;
  const state: AgentState = {
    ...(sameProduct ? existing : {}),
    schema: 1,
    server: trimSlash(options.server),
    product: options.product,
    ...(options.channel && { channel: options.channel }),
    machineId: options.machineId ?? existing?.machineId ?? (await systemMachineId()) ?? randomUUID(),
    licenseKey: options.licenseKey,
    trustedRoot: TRUSTED_ROOT,
    ...(options.proxyConf ? { proxyConf: resolve(options.proxyConf) } : existing?.proxyConf ? { proxyConf: existing.proxyConf } : {}),
  };
  // Written before the call: the license key is kept, so a failed registration is retried by the next update.
  const { stopped: _stopped, token: _token, agentId: _agentId, ...fresh } = state;
  await writeState(dir, fresh);
  const http = await clientFor(fresh, options);
  return registerWith(dir, fresh, http);
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
    channel: state.channel ?? 'stable',
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

class Session {
  constructor(
    readonly dir: string,
    public state: AgentState,
    readonly http: HttpClient,
    readonly options: UpdateOptions,
  ) {}

  /** An authenticated API call: re-registers once on INVALID_CREDENTIALS (a reclaimed seat); remembers a stop. */
  async call<T>(path: string, body: unknown): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (!this.state.token) this.state = await registerWith(this.dir, this.state, this.http);
      try {
        return (await this.http.api<T>('POST', `${this.state.server}${path}`, body, this.state.token)).body;
      } catch (error) {
        if (!(error instanceof AgentError)) throw error;
        if (error.code === 'INVALID_CREDENTIALS' && attempt === 0) {
          this.options.log?.('the server no longer knows this agent\'s token (seat reclaimed?): registering again');
          this.state = await registerWith(this.dir, this.state, this.http);
          continue;
        }
        if (error.stops) {
          this.state = await updateState(this.dir, { stopped: { code: error.code, message: error.message, at: now() }, lastResult: { at: now(), result: 'stopped', detail: `${error.code}: ${error.message}` } });
        }
        throw error;
      }
    }
  }

  manifest(): Promise<Manifest> {
    return this.call<Manifest>('/v1/manifest', {
      product: this.state.product,
      ...(this.state.channel && { channel: this.state.channel }),
      ...(this.state.installed && { installedVersion: this.state.installed.version }),
    });
  }

  async report(version: string, result: 'ok' | 'failed', detail?: string): Promise<void> {
    try {
      await this.call('/v1/reports', { product: this.state.product, ...(this.state.channel && { channel: this.state.channel }), installedVersion: version, result, ...(detail && { detail: withoutControlCharacters(detail).slice(0, 1000) }) });
    } catch (error) {
      this.options.log?.(`could not send the report: ${(error as Error).message}`);
    }
  }
}

function stoppedError(stop: NonNullable<AgentState['stopped']>): AgentError {
  return new AgentError('STOPPED', `updates are stopped since ${stop.at}: the server answered ${stop.code} (${stop.message}); retrying cannot help until the operator acts, then run \`signet agent register\` again (or \`update --force\`)`);
}

async function fetchTimestamp(session: Session): Promise<Buffer> {
  const base = session.state.metadataUrl ?? `${session.state.server}/metadata/`;
  const url = `${base.endsWith('/') ? base : `${base}/`}timestamp.json`;
  return session.http.retrying(url, async () => {
    const response = await session.http.send(url, { headers: { 'cache-control': 'no-cache' } });
    const bytes = Buffer.from(await response.arrayBuffer());
    if (!response.ok) throw answerError(response, bytes.toString('utf8'), url);
    return bytes;
  });
}

/**
 * One update: timestamp.json first, the manifest only when it changed since the last
 * success (or nothing is installed), then TUF-verified download of what the store lacks,
 * an atomic switch, and a report.
 */
export async function update(options: UpdateOptions): Promise<UpdateResult> {
  const dir = resolve(options.dir);
  let state = await readState(dir);
  if (!state) throw new AgentError('NOT_REGISTERED', `no agent in ${dir}: run \`signet agent register\` first`);
  if (state.stopped) {
    if (!options.force) throw stoppedError(state.stopped);
    state = await updateState(dir, { stopped: undefined });
  }
  const session = new Session(dir, state, await clientFor(state, options), options);
  if (!session.state.token) {
    options.log?.('registering (the last registration did not succeed)');
    session.state = await registerWith(dir, session.state, session.http);
  }

  const timestamp = await fetchTimestamp(session);
  const timestampHash = createHash('sha256').update(timestamp).digest('hex');
  const installed = session.state.installed;
  const intact = installed !== undefined && (await currentSet(dir)) === installed.path;
  if (!options.force && intact && session.state.lastTimestampSha256 === timestampHash) {
    session.state = await updateState(dir, { lastResult: { at: now(), result: 'up-to-date', version: installed.version } });
    return { result: 'up-to-date', version: installed.version, manifestRequested: false };
  }

  let manifest = await session.manifest();
  if (installed && intact && manifest.version === installed.version && manifest.setManifest === installed.setManifest) {
    session.state = await updateState(dir, { lastTimestampSha256: timestampHash, metadataUrl: manifest.metadataUrl, pollSeconds: manifest.pollSeconds, lastResult: { at: now(), result: 'up-to-date', version: installed.version } });
    return { result: 'up-to-date', version: installed.version, manifestRequested: true };
  }
  try {
    if (installed && compareVersions(manifest.version, installed.version) < 0) {
      throw new AgentError('VERSION_ROLLBACK', `the server offered ${manifest.version}, below the installed ${installed.version}: refused`);
    }
    const grant = {
      targetsUrl: manifest.targetsUrl,
      query: async () => {
        // Renew a grant about to expire before using it.
        if (Date.parse(manifest.download.expiresAt) - Date.now() < 2_000) manifest = { ...manifest, download: (await session.manifest()).download };
        return manifest.download.query;
      },
    };
    const result = await install(session, manifest, grant, async () => {
      manifest = { ...manifest, download: (await session.manifest()).download };
    });
    session.state = await updateState(dir, {
      installed: { version: manifest.version, path: result.setPath, setManifest: manifest.setManifest, installedAt: now() },
      lastTimestampSha256: timestampHash,
      metadataUrl: manifest.metadataUrl,
      pollSeconds: manifest.pollSeconds,
      lastResult: { at: now(), result: 'ok', version: manifest.version },
    });
    await session.report(manifest.version, 'ok');
    const { setPath: _setPath, ...summary } = result;
    return { result: 'installed', version: manifest.version, ...(installed && { previousVersion: installed.version }), ...summary };
  } catch (error) {
    const failure = error instanceof AgentError ? error : new AgentError('INSTALL_FAILED', error instanceof Error ? error.message : String(error));
    if (failure.code === 'ABORTED') throw failure;
    session.state = await updateState(dir, { lastResult: { at: now(), result: 'failed', version: manifest.version, detail: `${failure.code}: ${failure.message}` } });
    await session.report(manifest.version, 'failed', `${failure.code}: ${failure.message}`);
    throw failure;
  }
}

function tufFailure(error: unknown): AgentError {
  if (error instanceof AgentError) return error;
  return new AgentError('VERIFICATION_FAILED', `TUF metadata refused: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
}

async function install(
  session: Session,
  manifest: Manifest,
  grant: { targetsUrl: string; query: () => Promise<string> },
  renew: () => Promise<void>,
): Promise<Omit<Extract<UpdateResult, { result: 'installed' }>, 'result' | 'version' | 'previousVersion'> & { setPath: string }> {
  const { dir, http } = session;
  const updater = new Updater({
    metadataDir: join(dir, TUF_DIR),
    metadataBaseUrl: trimSlash(manifest.metadataUrl),
    targetBaseUrl: trimSlash(manifest.targetsUrl),
    fetcher: new AgentFetcher(http, grant),
    config: { prefixTargetsWithHash: false },
  });
  await updater.refresh().catch((error: unknown) => {
    throw tufFailure(error);
  });
  const targetInfo = async (path: string): Promise<TargetFile> => {
    const info = await updater.getTargetInfo(path).catch((error: unknown) => {
      throw tufFailure(error);
    });
    if (!info) throw new AgentError('VERIFICATION_FAILED', `${path} is not in the signed targets metadata`);
    return info;
  };
  const source = { url: async (path: string) => withQuery(`${manifest.targetsUrl}${path}`, await grant.query()), renew };
  const stats: DownloadStats = { files: 0, bytes: 0, resumed: 0 };

  // The set manifest: a target whose custom fields say it is this product's set of this version.
  const setInfo = await targetInfo(manifest.setManifest);
  const custom = setInfo.custom as { product?: unknown; kind?: unknown; version?: unknown };
  if (custom.product !== manifest.product || custom.kind !== 'set' || custom.version !== manifest.version) {
    throw new AgentError('VERIFICATION_FAILED', `${manifest.setManifest} is not the set manifest of ${manifest.product} ${manifest.version} (its signed custom fields say ${JSON.stringify(custom)})`);
  }
  const setHash = setInfo.hashes.sha256 ?? '';
  const setStats: DownloadStats = { files: 0, bytes: 0, resumed: 0 };
  if (!(await inStore(dir, setHash, setInfo.length))) await downloadToStore(dir, http, source, setInfo, setStats);
  const set = JSON.parse(await readFile(storePath(dir, setHash), 'utf8')) as { product?: unknown; version?: unknown; files?: Array<{ path: string; target: string; length: number; sha256: string }> };
  if (set.product !== manifest.product || set.version !== manifest.version || !Array.isArray(set.files)) {
    throw new AgentError('VERIFICATION_FAILED', `${manifest.setManifest} does not describe ${manifest.product} ${manifest.version}`);
  }

  // Every listed file must be a signed target of this product with the hash and length the set says.
  const files = set.files;
  const infos = new Map<string, TargetFile>();
  for (const file of files) {
    const info = await targetInfo(file.target);
    const fileCustom = info.custom as { product?: unknown; kind?: unknown };
    if (fileCustom.product !== manifest.product || fileCustom.kind !== 'file' || info.hashes.sha256 !== file.sha256 || info.length !== file.length) {
      throw new AgentError('VERIFICATION_FAILED', `${file.path}: the set manifest and the signed targets metadata disagree about ${file.target}`);
    }
    infos.set(file.sha256, info);
  }
  const missing: TargetFile[] = [];
  for (const [sha256, info] of infos) if (!(await inStore(dir, sha256, info.length))) missing.push(info);
  const totalBytes = missing.reduce((n, i) => n + i.length, 0);
  let doneBytes = 0;
  let doneFiles = 0;
  const report = () => session.options.onProgress?.({ files: doneFiles, totalFiles: missing.length, bytes: doneBytes, totalBytes });
  // A few downloads at once: latency hides behind the others. Each file's fsync and move
  // into the store run on while the slot fetches the next; all are awaited before the switch.
  const downloadStarted = performance.now();
  const stored: Array<Promise<void>> = [];
  let next = 0;
  const downloaded = Promise.all(
    Array.from({ length: Math.min(4, missing.length) }, async () => {
      while (next < missing.length) {
        const info = missing[next++] as TargetFile;
        const fetched = await fetchVerified(dir, http, source, info, stats, (n) => {
          doneBytes += n;
          report();
        });
        stored.push(fetched.stored);
        doneFiles++;
        report();
      }
    }),
  );
  const failure = await downloaded.then(() => undefined, (error: unknown) => error ?? new Error('download failed'));
  // Even when a download failed: no move into the store may still be running when this returns.
  const settled = await Promise.allSettled(stored);
  if (failure) throw failure;
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw new AgentError('INSTALL_FAILED', `cannot store a verified download: ${failed.reason instanceof Error ? failed.reason.message : String(failed.reason)}`);
  const downloadMs = performance.now() - downloadStarted;

  const path = await assembleSet(dir, manifest.version, files);
  await switchCurrent(dir, path);
  await collectGarbage(dir, path, new Set([setHash, ...files.map((f) => f.sha256)]));
  return {
    files: files.length,
    reusedFiles: files.length - missing.length,
    downloadedFiles: stats.files,
    setManifestBytes: setStats.bytes,
    downloadedBytes: stats.bytes,
    resumedDownloads: stats.resumed,
    downloadMs: Math.round(downloadMs * 10) / 10,
    path: join(dir, path),
    setPath: path,
  };
}

export interface DaemonOptions extends UpdateOptions {
  readonly signal: AbortSignal;
  /** After each attempt: its result or its error. */
  readonly onCycle?: (outcome: UpdateResult | AgentError) => void;
}

/**
 * Updates, then sleeps the server's pollSeconds (±20% jitter), until `signal` aborts. A
 * failed attempt is retried sooner, with full-jitter backoff capped at the poll interval;
 * a stop is re-checked each poll (the operator's `register` clears it).
 */
export async function runDaemon(options: DaemonOptions): Promise<void> {
  const { signal } = options;
  let failures = 0;
  while (!signal.aborted) {
    let delayMs: number;
    const pollMs = ((await readState(resolve(options.dir)))?.pollSeconds ?? 300) * 1000;
    try {
      const outcome = await update({ ...options, force: false, http: { ...options.http, signal } });
      failures = 0;
      options.onCycle?.(outcome);
      delayMs = pollDelay(((await readState(resolve(options.dir)))?.pollSeconds ?? 300));
    } catch (error) {
      if (signal.aborted) break;
      const failure = error instanceof AgentError ? error : new AgentError('INTERNAL', error instanceof Error ? error.message : String(error));
      options.onCycle?.(failure);
      if (failure.code === 'STOPPED' || STOP_CODES.has(failure.code)) delayMs = pollDelay(pollMs / 1000);
      else delayMs = Math.max(failure.retryAfterMs ?? 0, 1000 + backoffDelay(failures++, { baseMs: 5_000, capMs: pollMs }));
    }
    await sleep(delayMs, signal).catch(() => undefined);
  }
}
