/**
 * The benchmark harness. Every figure is printed next to a baseline measured in the
 * same run on the same machine, as a ratio, so the numbers mean something on any
 * machine: "the local origin serves /v1/health at 0.4x a bare Node server" says more
 * than "3,100 req/s" on an unknown box.
 */
import type { RuntimeKey, RuntimeSettings } from '#lib/config.ts';
import { variables } from '#lib/config.ts';
import { consistentName } from '#lib/releases/set-manifest.ts';
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

export interface Figure {
  /** What was measured, e.g. "GET /v1/health throughput". */
  readonly name: string;
  readonly value: number;
  readonly baseline: number;
  readonly unit: string;
  /** What the baseline is, e.g. "bare Node http server, constant JSON". */
  readonly baselineName: string;
  /** True when a larger value is better (throughput); false for costs (latency, bytes). */
  readonly higherIsBetter: boolean;
  /** Target ratio from an issue, if any, shown beside the result. */
  readonly target?: string;
}

export interface Suite {
  readonly name: string;
  run(): Promise<Figure[]>;
}

export interface LoadResult {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly bytesPerSecond: number;
  readonly non2xx: number;
  readonly errors: number;
}

/** A fixed-duration load from this process with autocannon (a GET, unless a method and body are given). */
export async function load(url: string, options: { connections?: number; seconds?: number; headers?: Record<string, string>; method?: 'GET' | 'POST'; body?: string } = {}): Promise<LoadResult> {
  const result = await autocannon({
    url,
    connections: options.connections ?? 16,
    duration: options.seconds ?? Number(process.env.BENCH_SECONDS ?? 5),
    headers: options.headers ?? {},
    ...(options.method && { method: options.method }),
    ...(options.body !== undefined && { body: options.body }),
  });
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    bytesPerSecond: result.throughput.average,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/** Whether a ratio meets a target written on it (">= 0.7x", "< 1.5x"); undefined for other targets, which are only shown. */
function meetsTarget(target: string | undefined, ratio: number): boolean | undefined {
  const match = /^([<>]=?)\s*([\d.]+)x$/.exec(target ?? '');
  if (!match) return undefined;
  const bound = Number(match[2]);
  return { '>=': ratio >= bound, '>': ratio > bound, '<=': ratio <= bound, '<': ratio < bound }[match[1] as '>=' | '>' | '<=' | '<'];
}

export function printFigures(suite: string, figures: readonly Figure[]): void {
  console.log(`\n## ${suite}\n`);
  console.log('| figure | value | baseline | ratio | target |');
  console.log('| --- | ---: | ---: | ---: | --- |');
  const missed: string[] = [];
  for (const f of figures) {
    const ratio = f.baseline === 0 ? NaN : f.value / f.baseline;
    const fmt = (n: number) => (Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));
    const met = meetsTarget(f.target, ratio);
    if (met === false) missed.push(`${f.name}: ${ratio.toFixed(2)}x, target ${f.target}`);
    console.log(
      `| ${f.name} | ${fmt(f.value)} ${f.unit} | ${fmt(f.baseline)} ${f.unit} (${f.baselineName}) | ${ratio.toFixed(2)}x${f.higherIsBetter ? '' : ' (lower is better)'} | ${f.target ?? ''}${met === undefined ? '' : met ? ' met' : ' **MISSED**'} |`,
    );
  }
  for (const line of missed) console.log(`\nTARGET MISSED: ${line}`);
}

export const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

/**
 * Runs a command to its end and resolves with its wall time in ms; a failure rejects with
 * the command's exit code and the end of its stderr (`inherit` passes its output through).
 */
export function timedCommand(command: string, args: readonly string[], options: { inherit?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, [...args], { stdio: options.inherit ? 'inherit' : ['ignore', 'ignore', 'pipe'], ...(options.env && { env: options.env }) });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`${command} exited with ${code}: ${stderr.trim().slice(-500)}`))));
  });
}

/**
 * Download throughput of one URL of `bytes` fetched `count` times by curl, 8 at a time, into
 * /dev/null: MB/s. For bodies of a MiB or so, where autocannon (it parses every body in
 * JavaScript) tops out at a few tens of MB/s, below either server.
 */
export async function curlThroughput(url: string, bytes: number, count = 300): Promise<number> {
  const args = ['-sf', '--parallel', '--parallel-max', '8'];
  for (let i = 0; i < count; i++) args.push('-o', '/dev/null', url);
  const ms = await timedCommand('curl', args);
  return (bytes * count) / 1e6 / (ms / 1000);
}

/** Starts bench/bare-server.ts as its own process (the baseline server), serving `file` for any non-API path. */
export function startBareServer(file: string): Promise<{ url: string; stop: () => void }> {
  return new Promise((resolve, reject) => {
    const script = fileURLToPath(new URL('./bare-server.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', (d: Buffer) => {
      const match = /bare ready: (\S+)/.exec(d.toString());
      if (match?.[1]) resolve({ url: match[1], stop: () => child.kill('SIGTERM') });
    });
    child.on('exit', (code) => reject(new Error(`bare server exited with ${code}`)));
  });
}

/** The benchmarks send thousands of requests as one agent from one address: the per-instance rate limits, lifted. */
export const liftedRateLimits = Object.fromEntries(
  (['registration', 'manifest', 'reports'] as const).flatMap((name) => [
    [`${name}PerMinute`, 100_000_000],
    [`${name}Burst`, 100_000_000],
  ]),
) as Partial<RuntimeSettings>;

/** The same for a `signet local` child process, through the variables it reads (lib/config.ts). */
export function liftRateLimits(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  for (const [key, value] of Object.entries(liftedRateLimits)) env[variables[key as RuntimeKey].name] = String(value);
  return env;
}

/** Registers one agent over HTTP (the service or a mirror) and returns its token. */
export async function registeredToken(baseUrl: string, licenseKey: string, product: string, machineId: string): Promise<string> {
  const response = await fetch(`${baseUrl}/v1/agents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ licenseKey, machineId, product, os: 'linux', arch: 'x64' }) });
  if (response.status !== 201) throw new Error(`registration at ${baseUrl}: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { token: string }).token;
}

/** A fixed-duration load of one agent's `POST /v1/manifest` (the rate limits lifted); any non-2xx answer fails the bench. */
export async function manifestLoad(baseUrl: string, token: string, product: string): Promise<LoadResult> {
  const result = await load(`${baseUrl}/v1/manifest`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ product }) });
  if (result.non2xx > 0) throw new Error(`manifest at ${baseUrl}: ${result.non2xx} non-2xx answers`);
  return result;
}

/**
 * The signed URLs of the current release's files, as an agent finds them: a manifest
 * (with its download grant), then the set manifest it names, fetched with that grant.
 */
export async function grantedTargetUrls(baseUrl: string, token: string, product: string): Promise<{ urls: string[]; expiresAt: string }> {
  const manifest = (await (await fetch(`${baseUrl}/v1/manifest`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ product }) })).json()) as {
    targetsUrl: string;
    setManifest: string;
    download: { query: string; expiresAt: string };
  };
  const setSha = manifest.setManifest.split('/')[1] ?? '';
  const set = (await (await fetch(`${manifest.targetsUrl}${consistentName(manifest.setManifest, setSha)}?${manifest.download.query}`)).json()) as { files: Array<{ target: string; sha256: string }> };
  return { urls: set.files.map((f) => `${manifest.targetsUrl}${consistentName(f.target, f.sha256)}?${manifest.download.query}`), expiresAt: manifest.download.expiresAt };
}

/** The peak resident set of a running process, in MiB (Linux: VmHWM in /proc/PID/status). */
export async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => {
    throw new Error(`cannot read /proc/${pid}/status: peak RSS is read from /proc (Linux)`);
  });
  const kB = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
  if (kB === undefined) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(kB) / 1024;
}

/** nginx as found on PATH or in /usr/sbin (where Debian's package puts it, outside a user's PATH). */
async function findNginx(): Promise<string | undefined> {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/sbin']) {
    const file = join(dir, 'nginx');
    if (await access(file, constants.X_OK).then(() => true, () => false)) return file;
  }
  return undefined;
}

/**
 * nginx, installed (Debian's nginx-light) when it is missing and this is root on a machine
 * with apt-get, as on the CI and development machines; else undefined.
 */
async function nginxBinary(): Promise<string | undefined> {
  const found = await findNginx();
  if (found || process.getuid?.() !== 0 || !(await access('/usr/bin/apt-get', constants.X_OK).then(() => true, () => false))) return found;
  console.error('# installing nginx-light (apt-get) for the baseline');
  const apt = (args: string[]) => new Promise<void>((resolve) => spawn('apt-get', args, { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).on('exit', () => resolve()));
  await apt(['update', '-qq']);
  await apt(['install', '-y', '-qq', '--no-install-recommends', 'nginx-light']);
  return findNginx();
}

/**
 * Starts nginx serving the files of `root` (one worker, sendfile: a file server at its
 * simplest), its config, pid and error log in `work`; undefined when this machine has no
 * nginx and could not install it.
 */
export async function startNginx(root: string, work: string): Promise<{ url: string; stop: () => Promise<void> } | undefined> {
  const nginx = await nginxBinary();
  if (!nginx) return undefined;
  await mkdir(work, { recursive: true });
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as AddressInfo;
      probe.close(() => resolve(free));
    });
  });
  const conf = join(work, 'nginx.conf');
  await writeFile(conf, [
    'daemon off;',
    'worker_processes 1;',
    // As root, the worker would drop to nobody, who cannot read a private temp dir.
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    `pid ${join(work, 'nginx.pid')};`,
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off;',
    '  sendfile on;',
    '  keepalive_requests 1000000;',
    '  default_type application/octet-stream;',
    `  server { listen 127.0.0.1:${port}; root ${root}; }`,
    '}',
  ].join('\n'));
  const child = spawn(nginx, ['-p', work, '-c', conf, '-e', join(work, 'error.log')], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  for (let tries = 0; !(await fetch(`${url}/`).then(() => true, () => false)); tries++) {
    if (tries === 50 || child.exitCode !== null) throw new Error(`nginx did not answer on ${url}: ${await readFile(join(work, 'error.log'), 'utf8').catch(() => '')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
