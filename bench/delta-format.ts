/**
 * Binary patch formats for signature databases, measured (docs/tuf-repository.md,
 * "Binary patches: the format"):
 *
 *   node --import tsx bench/delta-format.ts
 *
 * For each base size (`DELTA_MB`, default "60,160", in 10^6 bytes) it writes versions 0..3
 * of bench/signature-db.ts (seed 42), then makes the 0->1 patch with each candidate and
 * applies it: patch size, make time and peak RSS, apply time and peak RSS, each with the
 * exact command. Node decoders run as child processes of this script (`--apply`), so
 * their peak RSS is theirs alone; their apply time is the whole process (Node and tsx
 * starting, reading base and patch, decoding, hashing the output), the decode alone is
 * shown beside "ok". A decoder package that is not installed is reported as such. Last, the chain question: the 0->3 patch against 0->1 + 1->2 + 2->3.
 *
 * Needs the zstd, xdelta3 and GNU time commands (Debian: `apt-get install zstd xdelta3 time`).
 * `DELTA_ZSTD_LEVELS` (default "3,19"; -19 takes minutes a 60 MB patch), `DELTA_FULL_LEVEL` (default 3: the whole
 * file compressed, for scale), `DELTA_CHAIN_LEVEL` (default 3), `DELTA_BSDIFF=1`
 * adds bsdiff (slow, several GB of memory), `DELTA_WORK` keeps the databases and patches
 * in that directory (else a temporary one, removed).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeDatabase } from './signature-db.ts';

export interface Run {
  readonly seconds: number;
  readonly peakMiB: number;
  readonly stdout: string;
}

/** Runs a command under GNU time: wall seconds and peak RSS (`%M`, KiB) of the command. */
export function timed(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'TIME %e %M', command, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(env && { env }) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const match = /TIME ([\d.]+) (\d+)\s*$/.exec(stderr);
      if (code !== 0 || !match) return reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${stderr.trim().slice(-400)}`));
      resolve({ seconds: Number(match[1]), peakMiB: Number(match[2]) / 1024, stdout });
    });
  });
}

export const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');
const size = async (file: string) => (await stat(file)).size;

/** Node decoders: each applies `patch` to `base` and returns the new version. */
type Decoder = (base: Buffer, patch: Buffer) => Promise<Uint8Array>;

/** Imported by a name held in a variable: these are optional (devDependencies at most), typed here by hand. */
const optional = (name: string): Promise<Record<string, unknown>> => import(name) as Promise<Record<string, unknown>>;

export const decoders: Record<string, { pkg: string; format: 'zstd' | 'vcdiff'; decode: Decoder }> = {
  '@bokuweb/zstd-wasm (wasm) decompressUsingDict': {
    pkg: '@bokuweb/zstd-wasm',
    format: 'zstd',
    async decode(base, patch) {
      const z = (await optional('@bokuweb/zstd-wasm')) as { init(): Promise<void>; createDCtx(): number; decompressUsingDict(dctx: number, buf: Uint8Array, dict: Uint8Array): Uint8Array };
      await z.init();
      return z.decompressUsingDict(z.createDCtx(), patch, base);
    },
  },
  'zstd-napi (native) loadDictionary + windowLogMax 31': {
    pkg: 'zstd-napi',
    format: 'zstd',
    async decode(base, patch) {
      const { Decompressor } = (await optional('zstd-napi')) as { Decompressor: new () => { setParameters(p: { windowLogMax: number }): void; loadDictionary(d: Uint8Array): void; decompress(b: Uint8Array): Buffer } };
      const d = new Decompressor();
      d.setParameters({ windowLogMax: 31 });
      d.loadDictionary(base);
      return d.decompress(patch);
    },
  },
  '@toondepauw/node-zstd (native, napi-rs) Decoder(dict)': {
    pkg: '@toondepauw/node-zstd',
    format: 'zstd',
    async decode(base, patch) {
      const { Decoder } = (await optional('@toondepauw/node-zstd')) as { Decoder: new (dict: Buffer) => { decodeSync(b: Buffer): Buffer } };
      return new Decoder(base).decodeSync(patch);
    },
  },
  '@ably/vcdiff-decoder (JS) decode': {
    pkg: '@ably/vcdiff-decoder',
    format: 'vcdiff',
    async decode(base, patch) {
      const { decode } = (await optional('@ably/vcdiff-decoder')) as { decode(delta: Uint8Array, source: Uint8Array): Uint8Array };
      return decode(patch, base);
    },
  },
};

/** `--apply NAME BASE PATCH OUT-SHA256`: the child process side; prints "ok", or why not. */
async function applyInChild(name: string, baseFile: string, patchFile: string, expected: string): Promise<void> {
  const decoder = decoders[name];
  if (!decoder) throw new Error(`no decoder ${name}`);
  const [base, patch] = await Promise.all([readFile(baseFile), readFile(patchFile)]);
  try {
    const started = performance.now();
    const out = await decoder.decode(base, patch);
    const seconds = (performance.now() - started) / 1000;
    console.log(createHash('sha256').update(out).digest('hex') === expected ? `ok (decode ${seconds.toFixed(2)} s)` : 'WRONG OUTPUT');
  } catch (error) {
    console.log(`FAILED: ${String((error as Error).message ?? error).slice(0, 160)}`);
  }
}

/** Applies `patch` to `base` with one of `decoders` in a child process of its own: its wall time, peak RSS and result ("ok (decode N s)" or why not). */
export async function applyInNode(name: string, base: string, patch: string, expected: string): Promise<Run & { result: string }> {
  const run = await timed(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--apply', name, base, patch, expected]);
  return { ...run, result: run.stdout.trim() };
}

interface Row {
  readonly mb: number;
  readonly candidate: string;
  readonly patchBytes?: number;
  readonly targetBytes: number;
  readonly make?: Run & { command: string };
  readonly apply?: Run & { command: string; result: string };
}

async function installed(pkg: string): Promise<boolean> {
  return optional(pkg).then(() => true, () => false);
}

async function measureSize(work: string, mb: number, levels: readonly number[], fullLevel: number, chainLevel: number, bsdiff: boolean): Promise<{ rows: Row[]; chain: string[] }> {
  const dir = join(work, `db${mb}`);
  await mkdir(dir, { recursive: true });
  const file = (v: number) => join(dir, `v${v}.ndb`);
  const have = await Promise.all([0, 1, 2, 3].map((v) => size(file(v)).then(() => true, () => false)));
  if (!have.every(Boolean)) await writeDatabase(file, 42, mb * 1e6, 3);
  const [base, next] = [file(0), file(1)];
  const targetBytes = await size(next);
  const expected = await sha256(next);
  const out = join(dir, 'out');
  const rows: Row[] = [];
  const check = async () => ((await sha256(out)) === expected ? 'ok' : 'WRONG OUTPUT');

  // The full file, for scale: what an agent downloads without a patch.
  const fullZst = join(dir, 'v1.ndb.zst');
  const full = await timed('zstd', ['-q', '-f', `-${fullLevel}`, '--long=27', next, '-o', fullZst]);
  rows.push({ mb, candidate: `no patch: whole v1, zstd -${fullLevel} --long=27`, patchBytes: await size(fullZst), targetBytes, make: { ...full, command: `zstd -${fullLevel} --long=27 v1 -o v1.zst` } });

  const applyNode = async (format: 'zstd' | 'vcdiff', patch: string): Promise<Row[]> => {
    const nodeRows: Row[] = [];
    for (const [name, decoder] of Object.entries(decoders)) {
      if (decoder.format !== format) continue;
      if (!(await installed(decoder.pkg))) {
        nodeRows.push({ mb, candidate: `  apply in Node: ${name}`, targetBytes, apply: { seconds: NaN, peakMiB: NaN, stdout: '', command: '', result: 'not installed' } });
        continue;
      }
      const run = await applyInNode(name, base, patch, expected);
      nodeRows.push({ mb, candidate: `  apply in Node: ${name}`, targetBytes, apply: { ...run, command: `node bench/delta-format.ts --apply '${name}'` } });
    }
    return nodeRows;
  };

  for (const level of levels) {
    const patch = join(dir, `z${level}.zst`);
    const make = await timed('zstd', ['-q', '-f', `-${level}`, `--patch-from=${base}`, next, '-o', patch]);
    const apply = await timed('zstd', ['-q', '-f', '-d', '--long=31', `--patch-from=${base}`, patch, '-o', out]);
    rows.push({
      mb,
      candidate: `zstd -${level} --patch-from`,
      patchBytes: await size(patch),
      targetBytes,
      make: { ...make, command: `zstd -${level} --patch-from=v0 v1 -o patch` },
      apply: { ...apply, command: 'zstd -d --long=31 --patch-from=v0 patch -o v1', result: await check() },
    });
    rows.push(...(await applyNode('zstd', patch)));
  }

  const sourceWindow = String(2 ** Math.ceil(Math.log2(await size(base))));
  for (const [label, flags] of [
    ['xdelta3 -9 (Debian default: lzma secondary, app header)', ['-9']],
    ['xdelta3 -9 -S none -A -n (plain RFC 3284)', ['-9', '-S', 'none', '-A', '-n']],
  ] as const) {
    const patch = join(dir, `x${flags.length}.vcdiff`);
    const make = await timed('xdelta3', ['-f', '-e', ...flags, '-B', sourceWindow, '-s', base, next, patch]);
    const apply = await timed('xdelta3', ['-f', '-d', '-B', sourceWindow, '-s', base, patch, out]);
    rows.push({
      mb,
      candidate: label,
      patchBytes: await size(patch),
      targetBytes,
      make: { ...make, command: `xdelta3 -e ${flags.join(' ')} -B ${sourceWindow} -s v0 v1 patch` },
      apply: { ...apply, command: `xdelta3 -d -B ${sourceWindow} -s v0 patch v1`, result: await check() },
    });
    if (flags.length > 1) rows.push(...(await applyNode('vcdiff', patch)));
  }

  if (bsdiff) {
    const patch = join(dir, 'bs.bsdiff');
    const make = await timed('bsdiff', [base, next, patch]);
    const apply = await timed('bspatch', [base, out, patch]);
    rows.push({ mb, candidate: 'bsdiff 4.3', patchBytes: await size(patch), targetBytes, make: { ...make, command: 'bsdiff v0 v1 patch' }, apply: { ...apply, command: 'bspatch v0 v1 patch', result: await check() } });
  }

  // K patches from the last K versions, or a chain of consecutive ones.
  const chainPatch = async (from: number, to: number) => {
    const patch = join(dir, `chain-${from}-${to}.zst`);
    await timed('zstd', ['-q', '-f', `-${chainLevel}`, `--patch-from=${file(from)}`, file(to), '-o', patch]);
    return size(patch);
  };
  const steps = [await chainPatch(0, 1), await chainPatch(1, 2), await chainPatch(2, 3)];
  const direct = await chainPatch(0, 3);
  const sum = steps.reduce((a, b) => a + b, 0);
  const chain = [
    `${mb} MB, zstd -${chainLevel} --patch-from: v0->v1 ${steps[0]} B, v1->v2 ${steps[1]} B, v2->v3 ${steps[2]} B, sum ${sum} B; v0->v3 ${direct} B (${(direct / sum).toFixed(3)}x the sum)`,
  ];
  return { rows, chain };
}

function table(rows: readonly Row[]): string {
  const f = (n: number | undefined, digits = 1) => (n === undefined || Number.isNaN(n) ? '' : n.toFixed(digits));
  const lines = ['| base | candidate | patch bytes | % of v1 | make s | make peak MiB | apply s | apply peak MiB | applied |', '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |'];
  for (const r of rows) {
    lines.push(
      `| ${r.mb} MB | ${r.candidate} | ${r.patchBytes?.toLocaleString('en-US') ?? ''} | ${r.patchBytes === undefined ? '' : f((100 * r.patchBytes) / r.targetBytes, 2)} | ${f(r.make?.seconds)} | ${f(r.make?.peakMiB, 0)} | ${f(r.apply?.seconds, 2)} | ${f(r.apply?.peakMiB, 0)} | ${r.apply?.result ?? ''} |`,
    );
  }
  const commands = rows.flatMap((r) => [r.make?.command, r.apply?.command]).filter((c): c is string => !!c);
  return `${lines.join('\n')}\n\nCommands:\n${[...new Set(commands)].map((c) => `- \`${c}\``).join('\n')}`;
}

const main = process.argv[1] === fileURLToPath(import.meta.url);
if (main && process.argv[2] === '--apply') {
  const [name, base, patch, expected] = process.argv.slice(3) as [string, string, string, string];
  await applyInChild(name, base, patch, expected);
} else if (main) {
  const sizes = (process.env.DELTA_MB ?? '60,160').split(',').map(Number);
  const levels = (process.env.DELTA_ZSTD_LEVELS ?? '3,19').split(',').map(Number);
  const chainLevel = Number(process.env.DELTA_CHAIN_LEVEL ?? 3);
  const work = process.env.DELTA_WORK ?? (await mkdtemp(join(tmpdir(), 'signet-delta-')));
  console.log(`# delta-format — ${new Date().toISOString()}, node ${process.version}, base sizes ${sizes.join(', ')} MB, work ${work}`);
  const rows: Row[] = [];
  const chains: string[] = [];
  try {
    for (const mb of sizes) {
      const result = await measureSize(work, mb, levels, Number(process.env.DELTA_FULL_LEVEL ?? 3), chainLevel, process.env.DELTA_BSDIFF === '1');
      rows.push(...result.rows);
      chains.push(...result.chain);
      console.log(table(result.rows));
    }
    console.log(`\n## All\n\n${table(rows)}\n\n## Chain\n\n${chains.map((c) => `- ${c}`).join('\n')}`);
  } finally {
    if (!process.env.DELTA_WORK) await rm(work, { recursive: true, force: true });
  }
}
