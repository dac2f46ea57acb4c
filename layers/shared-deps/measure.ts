/**
 * Measures what a layer would buy: for the health function and a heavier synthetic one,
 * bundle and layer sizes, and init time (the `import()` of the bundle in a fresh `node`
 * process), for each way of packaging the third-party dependencies.
 *
 *   node --import tsx layers/shared-deps/measure.ts            (RUNS=31 for more runs)
 *
 * Init time is reported against an empty module imported in the same rounds: absolute
 * milliseconds are this machine's, the ratio is what carries over to Lambda on ARM64.
 * The runtime's own SDK copy (/var/runtime/node_modules) is stood in for by this repo's
 * node_modules: the same packages, unbundled, possibly a newer version than Lambda ships.
 */
import { spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import { buildSharedDepsLayer } from './build.ts';
import { bundleFunction } from './function-bundle.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const runs = Number(process.env.RUNS ?? 21);
if (!Number.isInteger(runs) || runs < 15) throw new Error(`RUNS must be an integer >= 15, got ${process.env.RUNS}`);

const entries = [
  { id: 'health', file: 'functions/health/index.ts' },
  { id: 'heavier', file: 'layers/shared-deps/heavier-entry.ts' },
] as const;

/** Third-party, not AWS SDK: the candidates for a layer that does not touch the SDK. */
const appDeps = ['@middy/core', 'zod/mini'];
/** The SDK packages the functions import, all present in the Lambda Node 22 runtime. */
const sdkDeps = [
  '@aws-sdk/client-dynamodb',
  '@aws-sdk/lib-dynamodb',
  '@aws-sdk/client-s3',
  '@aws-sdk/client-kms',
  '@aws-sdk/cloudfront-signer',
];

interface Variant {
  readonly id: string;
  readonly label: string;
  /** What the function bundle leaves as imports. */
  readonly external: readonly string[];
  /** What the layer holds, if there is one. */
  readonly layer?: readonly string[];
  /** Whether `@aws-sdk/*` resolves to the runtime's copy. */
  readonly runtimeSdk: boolean;
}

const variants: readonly Variant[] = [
  { id: 'a', label: '(a) everything bundled', external: [], runtimeSdk: false },
  { id: 'b', label: '(b) @aws-sdk/* external (runtime SDK)', external: ['@aws-sdk/*'], runtimeSdk: true },
  { id: 'c0', label: '(c0) layer: @middy/core; SDK bundled', external: ['@middy/core'], layer: ['@middy/core'], runtimeSdk: false },
  { id: 'c1', label: '(c1) layer: middy + zod/mini; SDK bundled', external: appDeps, layer: appDeps, runtimeSdk: false },
  {
    id: 'c2',
    label: '(c2) layer: middy + zod/mini; SDK from runtime',
    external: [...appDeps, '@aws-sdk/*'],
    layer: appDeps,
    runtimeSdk: true,
  },
  {
    id: 'c3',
    label: '(c3) layer: middy + zod/mini + SDK pre-bundled',
    external: [...appDeps, ...sdkDeps],
    layer: [...appDeps, ...sdkDeps],
    runtimeSdk: false,
  },
];

async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const item of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, item.name);
    if (item.isDirectory()) found.push(...(await filesUnder(full)));
    else if (item.isFile()) found.push(full);
  }
  return found.sort();
}

interface Size {
  readonly bytes: number;
  /** A zip archive of the files: deflate level 9 (as the CDK CLI zips assets), local and central headers. */
  readonly zip: number;
}

async function sizeOf(root: string, files: readonly string[]): Promise<Size> {
  let bytes = 0;
  let zip = 22;
  for (const file of files) {
    const data = await readFile(file);
    const name = Buffer.byteLength(path.relative(root, file));
    bytes += data.length;
    zip += 30 + 46 + 2 * name + Math.min(data.length, deflateRawSync(data, { level: 9 }).length);
  }
  return { bytes, zip };
}

interface Case {
  readonly id: string;
  readonly target: string;
  readonly variant?: Variant;
  readonly entry?: (typeof entries)[number];
  readonly bundle?: Size;
  readonly layerSize?: Size;
}

function median(sorted: readonly number[]): number {
  return quantile(sorted, 0.5);
}

function quantile(sorted: readonly number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return (sorted[lo] ?? NaN) + ((sorted[hi] ?? NaN) - (sorted[lo] ?? NaN)) * (at - lo);
}

function importTime(timer: string, target: string): number {
  const result = spawnSync(process.execPath, [timer, pathToFileURL(target).href], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, SIGNET_TABLE_MAIN: 'measure', AWS_REGION: 'eu-west-1', NODE_OPTIONS: '' },
  });
  const ms = Number(result.stdout);
  if (result.status !== 0 || !Number.isFinite(ms)) {
    throw new Error(`import of ${target} failed (${result.status}): ${result.stderr}`);
  }
  return ms;
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'signet-layer-measure-'));
  try {
    // Lambda's search order: the function's folder, then /opt/nodejs/node_modules (the
    // layer), then /var/runtime/node_modules (the SDK). Parent folders play those parts.
    const withRuntime = path.join(work, 'with-runtime');
    const isolated = path.join(work, 'isolated');
    await mkdir(withRuntime, { recursive: true });
    await mkdir(isolated, { recursive: true });
    await symlink(path.join(repoRoot, 'node_modules'), path.join(withRuntime, 'node_modules'), 'dir');

    const timer = path.join(work, 'import-timer.mjs');
    await writeFile(
      timer,
      [
        'const t0 = performance.now();',
        'const mod = await import(process.argv[2]);',
        'const ms = performance.now() - t0;',
        "if (typeof mod.handler !== 'function') { console.error('no handler export'); process.exit(2); }",
        'process.stdout.write(ms.toFixed(3));',
      ].join('\n'),
    );
    const empty = path.join(work, 'empty.mjs');
    await writeFile(empty, 'export const handler = () => undefined;\n');

    const layers = new Map<string, { dir: string; size: Size }>();
    const cases: Case[] = [{ id: 'empty', target: empty }];
    for (const variant of variants) {
      const variantDir = path.join(variant.runtimeSdk ? withRuntime : isolated, variant.id);
      let layerSize: Size | undefined;
      if (variant.layer) {
        const key = variant.layer.join(',');
        let built = layers.get(key);
        if (!built) {
          const dir = path.join(work, `layer-${layers.size}`);
          await buildSharedDepsLayer(dir, variant.layer);
          built = { dir, size: await sizeOf(dir, await filesUnder(dir)) };
          layers.set(key, built);
        }
        layerSize = built.size;
        await cp(path.join(built.dir, 'nodejs', 'node_modules'), path.join(variantDir, 'node_modules'), { recursive: true });
      }
      for (const entry of entries) {
        const target = path.join(variantDir, entry.id, 'index.mjs');
        await bundleFunction(path.join(repoRoot, entry.file), target, { external: variant.external });
        const bundle = await sizeOf(path.dirname(target), [target]);
        cases.push({ id: `${entry.id}/${variant.id}`, target, variant, entry, bundle, layerSize });
      }
    }

    // Rounds, each running every case once in a rotated order, so drift in the machine's
    // load spreads over all cases instead of landing on one. Ratios are taken within a
    // round (paired), which cancels most of that drift.
    console.error(`timing ${cases.length} cases × ${runs} rounds …`);
    const rounds: Map<string, number>[] = [];
    for (let round = 0; round < runs; round++) {
      const times = new Map<string, number>();
      for (let i = 0; i < cases.length; i++) {
        const c = cases[(i + round) % cases.length] as Case;
        times.set(c.id, importTime(timer, c.target));
      }
      rounds.push(times);
    }
    const series = (f: (round: Map<string, number>) => number) => rounds.map(f).sort((x, y) => x - y);
    const at = (round: Map<string, number>, id: string) => round.get(id) ?? NaN;
    const spread = (values: readonly number[], digits: number) =>
      `${median(values).toFixed(digits)} (${quantile(values, 0.25).toFixed(digits)}–${quantile(values, 0.75).toFixed(digits)})`;
    const percent = (ratio: number) => `${ratio >= 1 ? '+' : '−'}${Math.abs((ratio - 1) * 100).toFixed(0)} %`;

    const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
    console.log(`\nnode ${process.version}, ${process.arch}, ${os.cpus().length} × ${cpu}, ${runs} rounds`);
    console.log(`empty module import: median ${spread(series((r) => at(r, 'empty')), 2)} ms\n`);
    console.log(
      '| function | packaging | function bundle | function zip | layer | layer zip | init ms, median (IQR) | × empty (IQR) | vs (a) (IQR) |',
    );
    console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const c of cases) {
      if (!c.variant || !c.entry || !c.bundle) continue;
      const bundled = `${c.entry.id}/a`;
      const vsBundled = series((r) => at(r, c.id) / at(r, bundled));
      const cells = [
        c.entry.id,
        c.variant.label,
        `${c.bundle.bytes.toLocaleString('en')} B`,
        kb(c.bundle.zip),
        c.layerSize ? kb(c.layerSize.bytes) : '–',
        c.layerSize ? kb(c.layerSize.zip) : '–',
        spread(series((r) => at(r, c.id)), 1),
        spread(series((r) => at(r, c.id) / at(r, 'empty')), 0),
        `${percent(median(vsBundled))} (${percent(quantile(vsBundled, 0.25))} to ${percent(quantile(vsBundled, 0.75))})`,
      ];
      console.log(`| ${cells.join(' | ')} |`);
    }
    console.log("\n(b), (c2): the SDK loads from the runtime's copy (here: this repo's node_modules), counted in no size above.");
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
