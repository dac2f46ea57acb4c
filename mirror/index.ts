/**
 * `signet mirror serve`: a site's update server. It syncs from its upstream (the service,
 * or another mirror) through the agent's HTTP client (proxies, retries), serves agents on
 * any port with the service's interface, and answers them under its signed lease. Node
 * alone: no Java, no DynamoDB, no AWS account.
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ensureLocalCdnKey } from '#lib/cdn/key-files.ts';
import { writeFileAtomic } from '#lib/files.ts';
import { createEdgeServer } from '#lib/edge/server.ts';
import type { LeasePayload } from '#lib/mirror/lease.ts';
import { verifyLease } from '#lib/mirror/lease.ts';
import { createLogger } from '#lib/log.ts';
import { licenseIdOf } from '#lib/licensing/secrets.ts';
import { parseRoot } from '#lib/tuf/metadata.ts';
import { AGENT_VERSION, loadProxy } from '../agent/client.ts';
import { HttpClient } from '../agent/http.ts';
import { failureLine, MirrorError } from './errors.ts';
import { recoverView } from './view.ts';
import { MirrorLicensing } from './licensing.ts';
import { createMirrorHandler } from './server.ts';
import type { MirrorRateLimits } from './server.ts';
import type { MirrorConfig, Served, SyncRecord } from './state.ts';
import { openConfig, paths, readConfig, readLease, readServed, readSync, withDirLock, writeJson } from './state.ts';
import type { SyncDeps } from './sync.ts';
import { syncOnce } from './sync.ts';
import type { ImportResult } from './bundle.ts';
import { exportBundle, importBundle } from './bundle.ts';
import { exportReports, importReports, isReportsFile, readReportsFile } from './reports.ts';

export { MirrorError };
export { mirrorRateKeys } from './server.ts';

/** Versions held per product besides the channels', unless `--keep` says otherwise. */
export const DEFAULT_KEEP = 5;

export interface MirrorOptions {
  readonly dir: string;
  readonly port: number;
  readonly host: string;
  readonly upstream?: string;
  readonly licenseKey?: string;
  readonly seats?: number;
  /** The TUF root to trust, on the first start (later starts keep the one they have, and follow its rotations). */
  readonly root?: string;
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  readonly proxyConf?: string;
  /** How often it asks its upstream for something new, seconds. */
  readonly pollSeconds?: number;
  /** Versions held per product besides the channels'. */
  readonly keep?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly log?: (line: string) => void;
  readonly accessLog?: (line: string) => void;
  readonly objectIdleTimeoutMs?: number;
  /** Connections served at once; beyond them a request is answered 503 (lib/edge/server.ts DEFAULT_MAX_CONNECTIONS when absent). */
  readonly maxConnections?: number;
  /** Download progress of a sync (a terminal's progress line). */
  readonly onProgress?: SyncDeps['onProgress'];
  /**
   * Registrations per client address, manifest requests and reports per agent, per minute
   * and at once; the service's defaults (lib/config.ts) where absent. `signet mirror serve`
   * takes them from the service's variables (SIGNET_MANIFEST_PER_MINUTE, ...).
   */
  readonly rateLimits?: Partial<MirrorRateLimits>;
}

export interface RunningMirror {
  readonly url: string;
  readonly config: MirrorConfig;
  /** One sync now (also what the timer runs); its record. */
  sync(): Promise<SyncRecord>;
  /** Takes up what an import changed now, rather than at the next look (every 2 s). */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/**
 * The trusted root: the one already followed, or the one given on the first start (read
 * and parsed before anything is written, so a wrong --root leaves no half-made mirror).
 * Returns a function that puts it in place once the data dir exists.
 */
async function rootToTrust(dir: string, root: string | undefined): Promise<() => Promise<void>> {
  const trusted = join(paths(dir).tuf, 'root.json');
  if (await exists(trusted)) return async () => undefined;
  if (!root) throw new MirrorError('no trusted root: pass --root FILE (the service\'s root.json) on the first start');
  const bytes = await readFile(root).catch(() => {
    throw new MirrorError(`cannot read the root ${root}`);
  });
  let version: number;
  try {
    version = parseRoot(bytes).signed.version;
  } catch {
    throw new MirrorError(`${root} is not a TUF root.json`);
  }
  return async () => {
    await writeFileAtomic(trusted, bytes, 0o644);
    // Served too, for agents set up with the same root.
    await writeFileAtomic(join(paths(dir).metadata, `${version}.root.json`), bytes, 0o644);
  };
}

/** The lease on disk, if the trusted root vouches for it (expired or not: an expired one answers LEASE_EXPIRED). */
export async function trustedLease(dir: string, config: MirrorConfig): Promise<LeasePayload | undefined> {
  const lease = await readLease(dir);
  if (!lease) return undefined;
  const root = parseRoot(await readFile(join(paths(dir).tuf, 'root.json'))).signed;
  const verdict = verifyLease(lease, root, { mirrorId: config.mirrorId, ...(config.licenseId && { licenseId: config.licenseId }), now: new Date(Date.parse(lease.signed.issuedAt)) });
  return verdict.ok ? verdict.lease : undefined;
}

/** When served.json or lease.json last changed. */
async function changeMark(dir: string): Promise<string> {
  const times = await Promise.all([paths(dir).served, paths(dir).lease].map((f) => stat(f).then((s) => s.mtimeMs, () => 0)));
  return times.join('/');
}

/** The config as an import left it (it may have recorded the license it came for). */
async function reloadConfig(dir: string, fallback: MirrorConfig): Promise<MirrorConfig> {
  return (await readConfig(dir)) ?? fallback;
}

/** The client a mirror reaches its upstream with: the agent's (proxy from its file or HTTPS_PROXY, retries). */
export async function mirrorHttp(config: MirrorConfig, env: NodeJS.ProcessEnv = process.env): Promise<HttpClient> {
  return new HttpClient({ ...(config.proxyConf && { proxy: await loadProxy(config.proxyConf) }), env, userAgent: `signet-mirror/${AGENT_VERSION}` });
}

export async function startMirror(options: MirrorOptions): Promise<RunningMirror> {
  const log = options.log ?? (() => undefined);
  const { dir } = options;
  // What a process killed halfway left: a switch finished or undone, staging removed, and
  // a lost tuf/ rebuilt from the served view (so --root is not needed again).
  if (await exists(paths(dir).config)) await withDirLock(dir, () => recoverView(dir));
  const trustRoot = await rootToTrust(dir, options.root);
  const config = await openConfig(dir, {
    ...(options.upstream !== undefined && { upstream: options.upstream.replace(/\/+$/, '') }),
    ...(options.licenseKey !== undefined && { licenseKey: options.licenseKey, licenseId: licenseIdOf(options.licenseKey) }),
    ...(options.seats !== undefined && { seats: options.seats }),
    ...(options.proxyConf !== undefined && { proxyConf: options.proxyConf }),
    ...(options.keep !== undefined && { keep: options.keep }),
  });
  await trustRoot();
  await ensureLocalCdnKey(dir);

  const licensing = new MirrorLicensing(dir);
  await licensing.load();
  let served: Served | undefined = await readServed(dir);
  const lease = await trustedLease(dir, config);
  if (lease) licensing.apply(lease, served);

  const http = await mirrorHttp(config, options.env);
  const pollSeconds = options.pollSeconds ?? 300;
  const handler = await createMirrorHandler({
    dir,
    licensing,
    served: () => served,
    ...(config.upstream && { upstream: { url: config.upstream, http } }),
    https: options.tls !== undefined,
    pollSeconds,
    grantLifetimeSeconds: 3600,
    logger: createLogger('mirror', { logLevel: 'WARN' }),
    objectIdleTimeoutMs: options.objectIdleTimeoutMs ?? 30_000,
    log,
    ...(options.accessLog && { accessLog: options.accessLog }),
    ...(options.rateLimits && { rateLimits: options.rateLimits }),
  });
  const server = createEdgeServer(handler, { ...(options.tls && { tls: options.tls }), ...(options.maxConnections !== undefined && { maxConnections: options.maxConnections }) });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new MirrorError(`port ${options.port} on ${options.host} is already in use: pass --port N`) : error),
    );
    server.listen(options.port, options.host, () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : options.port);
    });
  });
  const displayHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  const url = `${options.tls ? 'https' : 'http'}://${displayHost.includes(':') ? `[${displayHost}]` : displayHost}:${port}`;

  // An import (`signet mirror import`, another process) switches served.json and lease.json;
  // the watcher below compares this mark of them to notice.
  let seen = await changeMark(dir);
  // One sync at a time; a failed one is recorded and leaves the mirror serving what it had.
  let running: Promise<SyncRecord> | undefined;
  const sync = (): Promise<SyncRecord> => {
    running ??= (async () => {
      const previous = await readSync(dir);
      let record: SyncRecord;
      try {
        record = await withDirLock(dir, async () => {
          const synced = await syncOnce({ dir, config, http, licensing, keep: config.keep ?? DEFAULT_KEEP, onServed: (next) => (served = next), ...(options.onProgress && { onProgress: options.onProgress }) });
          // What this sync wrote is taken already; the watcher looks for other processes' imports.
          seen = await changeMark(dir);
          return synced;
        });
      } catch (error) {
        const detail = failureLine(error, resolve(dir));
        log(`sync failed: ${detail}`);
        record = { at: new Date().toISOString(), result: 'failed', detail, ...(previous?.lastSuccessAt && { lastSuccessAt: previous.lastSuccessAt }), ...(served && { snapshotVersion: served.snapshotVersion }) };
      }
      await writeJson(paths(dir).sync, record);
      return record;
    })().finally(() => (running = undefined));
    return running;
  };

  // An import (`signet mirror import`, another process) switches served.json and lease.json:
  // look for that every few seconds and answer from what it put in place.
  const reload = async (): Promise<void> => {
    if (running) return; // this process is writing them: it takes what it wrote
    const mark = await changeMark(dir);
    if (mark === seen) return;
    seen = mark;
    // Read both before switching to either: an agent sees the new versions with their lease, never one alone.
    const next = await readServed(dir);
    const imported = await trustedLease(dir, await reloadConfig(dir, config));
    served = next;
    if (imported) licensing.apply(imported, served);
    else licensing.index(served);
    log('took what an import put in place');
  };
  const watcher = setInterval(() => {
    reload().catch((error: unknown) => log(`reloading after an import failed: ${error instanceof Error ? error.message : String(error)}`));
  }, 2_000);
  watcher.unref();

  let timer: NodeJS.Timeout | undefined;
  if (config.upstream) {
    await sync();
    const schedule = () => {
      // Spread over a tenth of the interval, so mirrors started together do not poll together.
      timer = setTimeout(() => void sync().finally(schedule), pollSeconds * 1000 * (0.95 + Math.random() * 0.1));
      timer.unref();
    };
    schedule();
  }

  return {
    url,
    config,
    sync,
    reload,
    async stop() {
      if (timer) clearTimeout(timer);
      clearInterval(watcher);
      await running?.catch(() => undefined);
      await licensing.flush();
      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
    },
  };
}

async function existingMirror(dir: string): Promise<MirrorConfig> {
  const config = await readConfig(dir);
  if (!config) throw new MirrorError(`${dir} holds no mirror: start one there first (signet mirror serve --data-dir ${dir} --root root.json); its id is what a bundle is made for`);
  return config;
}

export interface ExportRequest {
  readonly out: string;
  readonly forMirror: string;
  readonly seats: number;
  readonly validDays: number;
  readonly since?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** `signet mirror export`: a bundle for an isolated mirror, from this (connected) mirror's data dir. */
export async function exportFromMirror(dir: string, request: ExportRequest) {
  const config = await existingMirror(dir);
  const http = await mirrorHttp(config, request.env);
  const licensing = new MirrorLicensing(dir);
  await licensing.load();
  return withDirLock(dir, () =>
    exportBundle({
      dir,
      config,
      http,
      out: request.out,
      forMirror: request.forMirror,
      seats: request.seats,
      validDays: request.validDays,
      ...(request.since !== undefined && { since: request.since }),
      // A serving mirror in this dir picks the result up from the files, as after an import.
      sync: () => syncOnce({ dir, config, http, licensing, keep: config.keep ?? DEFAULT_KEEP, onServed: () => undefined }),
    }),
  );
}

/** `signet mirror export --reports`: the reports of agents in this isolated segment, to carry out. */
export async function exportMirrorReports(dir: string, out: string): Promise<number> {
  const config = await existingMirror(dir);
  return withDirLock(dir, () => exportReports(dir, config, out));
}

/**
 * `signet mirror import`: a bundle (or a reports file) into this mirror. The first bundle
 * makes the mirror the license's (with `--license`, the key must be the bundle's license);
 * a serving mirror in the same dir answers from it within seconds.
 */
export async function importIntoMirror(dir: string, file: string, licenseKey?: string): Promise<ImportResult> {
  const config = await existingMirror(dir);
  if (!(await stat(file).then((s) => s.isFile(), () => false))) throw new MirrorError(`cannot read ${file}: no such file`);
  const licenseId = licenseKey === undefined ? config.licenseId : licenseIdOf(licenseKey);
  if (config.licenseId && licenseId !== config.licenseId) throw new MirrorError(`this mirror serves license ${config.licenseId}; --license is another one`);
  const withLicense = { ...config, ...(licenseId && { licenseId }) };
  if (await isReportsFile(file)) return withDirLock(dir, async () => importReports(dir, withLicense, await readReportsFile(file)));
  return withDirLock(dir, async () => {
    const result = await importBundle(dir, withLicense, file);
    if (result.kind === 'bundle') {
      if (!config.licenseId && result.licenseId) await writeJson(paths(dir).config, { ...config, licenseId: result.licenseId });
      const record: SyncRecord = { at: new Date().toISOString(), result: 'ok', detail: `imported ${file}`, ...(result.snapshotVersion !== undefined && { snapshotVersion: result.snapshotVersion }), lastSuccessAt: new Date().toISOString() };
      await writeJson(paths(dir).sync, record);
    }
    return result;
  });
}
