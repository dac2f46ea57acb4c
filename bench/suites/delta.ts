/**
 * Binary patches end to end (issue: "deltas below the file level"): a synthetic signature
 * database (bench/signature-db.ts: one .ndb-like record a line; each release replaces 1%
 * of the records and appends as many) published as four releases through the real CLI
 * against a local stack, and reference agents one and three versions behind updating
 * through the real CLI.
 *
 * - Bytes an agent one version behind receives (patch + any whole files + the set
 *   manifest), against the set's size and against `zstd -19 --patch-from` on the same
 *   pair of files (the smallest patch the stock tool makes; it takes minutes).
 * - Three versions behind (one direct patch from its version), against the sum of the
 *   three one-step patches publish makes: what a chain of patches would cost.
 * - Publish time and peak RSS of the fourth release with patches (K = 3 bases) against the
 *   same release of a product published without them (`--patch-from-versions 0`).
 * - Agent update time and peak RSS, patch applied, against an agent that downloads the
 *   changed file whole from the same local origin (`SIGNET_NO_PATCHES`).
 *
 * Times and peak RSS are of whole CLI processes under GNU time (`%M` is the largest process
 * of the tree: node or a zstd it ran). Size: `BENCH_DELTA_MB` (default 60). Needs the
 * zstd and GNU time commands (Debian: `apt-get install zstd time`).
 */
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdPatcher } from '#lib/releases/zstd-patch.ts';
import { readDemoFile } from '#local/demo.ts';
import { signetBin, startSignetLocal } from '#test/support/cli.ts';
import { timed } from '../delta-format.ts';
import type { Figure, Suite } from '../harness.ts';
import { liftRateLimits } from '../harness.ts';
import { writeDatabase } from '../signature-db.ts';

const PRODUCT = 'demo-av';
/** Published with `--patch-from-versions 0`: the same releases, no patches (publish time and memory only). */
const PLAIN_PRODUCT = 'bench-delta-plain';
const RELEASES = 4;
const DB = 'daily.ndb';

interface Installed {
  readonly result: string;
  readonly version: string;
  readonly patchedFiles: number;
  readonly patchBytes: number;
  readonly downloadedBytes: number;
  readonly setManifestBytes: number;
  readonly patchFallbacks: readonly string[];
}

const version = (release: number) => `1.${release}.0`;
const MB = 1e6;

export const deltaSuite: Suite = {
  name: 'delta: binary patches of a signature database, published and applied end to end',
  async run(): Promise<Figure[]> {
    const sizeMb = Number(process.env.BENCH_DELTA_MB ?? 60);
    if (!(sizeMb > 0)) throw new Error(`BENCH_DELTA_MB must be a positive number, got ${process.env.BENCH_DELTA_MB}`);
    const patcher = await zstdPatcher();
    if (!patcher) throw new Error('the zstd command is not installed (Debian: apt-get install zstd)');
    const work = await mkdtemp(join(tmpdir(), 'signet-bench-delta-e2e-'));
    const dataDir = join(work, 'data');
    const env = liftRateLimits({ ...process.env, NO_PROXY: '*' });
    const local = await startSignetLocal(['--port', '0', '--data-dir', dataDir, '--quiet'], env);
    try {
      // Release r (1..4) holds version r-1 of the database.
      const setDir = (release: number) => join(work, `set-${release}`);
      for (let release = 1; release <= RELEASES; release++) await mkdir(setDir(release));
      const dbs = await writeDatabase((v) => join(setDir(v + 1), DB), 42, sizeMb * MB, RELEASES - 1);
      const demo = await readDemoFile(dataDir);
      if (!demo) throw new Error('the local stack wrote no demo.json');

      const signet = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => timed(process.execPath, [signetBin, ...args], { ...env, ...extraEnv });
      const publish = (product: string, release: number, patchesFrom: number) =>
        signet(['publish', '--product', product, '--version', version(release), '--dir', setDir(release), '--channel', 'stable', '--patch-from-versions', String(patchesFrom), '--data-dir', dataDir, '--json']);
      const agentUpdate = async (dir: string, extraEnv: NodeJS.ProcessEnv = {}) => {
        const run = await signet(['agent', 'update', '--dir', dir, '--json'], extraEnv);
        const result = JSON.parse(run.stdout) as Installed;
        if (result.result !== 'installed') throw new Error(`the agent in ${dir} did not install: ${run.stdout}`);
        return { ...run, result };
      };
      const agents = { oneBehind: join(work, 'agent-one'), threeBehind: join(work, 'agent-three'), whole: join(work, 'agent-whole') };
      for (const dir of Object.values(agents)) {
        await signet(['agent', 'register', '--dir', dir, '--server', local.baseUrl, '--license', demo.licenseKey, '--product', PRODUCT, '--root', join(dataDir, 'root.json')]);
      }

      const published: Array<{ patched: Awaited<ReturnType<typeof publish>>; plain: Awaited<ReturnType<typeof publish>> }> = [];
      for (let release = 1; release <= RELEASES; release++) {
        const patched = await publish(PRODUCT, release, RELEASES - 1);
        const plain = await publish(PLAIN_PRODUCT, release, 0);
        published.push({ patched, plain });
        // Every agent installs the first release; two of them keep up until the last one.
        if (release === 1 || release < RELEASES) {
          const keepingUp = release === 1 ? Object.values(agents) : [agents.oneBehind, agents.whole];
          for (const dir of keepingUp) await agentUpdate(dir, { SIGNET_NO_PATCHES: '1' });
        }
      }
      const last = published.at(-1);
      if (!last) throw new Error('nothing published');

      const one = await agentUpdate(agents.oneBehind);
      const three = await agentUpdate(agents.threeBehind);
      const whole = await agentUpdate(agents.whole, { SIGNET_NO_PATCHES: '1' });
      for (const [name, run] of Object.entries({ one, three })) {
        if (run.result.patchedFiles !== 1 || run.result.patchFallbacks.length > 0) throw new Error(`the ${name}-behind agent did not apply a patch: ${JSON.stringify(run.result)}`);
      }
      const received = (r: Installed) => r.patchBytes + r.downloadedBytes + r.setManifestBytes;
      const setBytes = dbs.at(-1)?.bytes ?? 0;

      // Baselines made with the stock tool on the same files.
      const patchSize = async (from: number, to: number, level: number) => {
        const out = join(work, `p${from}-${to}-${level}.zst`);
        await timed('zstd', ['-q', '-f', `-${level}`, `--patch-from=${dbs[from]?.file}`, dbs[to]?.file ?? '', '-o', out]);
        return (await stat(out)).size;
      };
      console.error(`delta: zstd -19 --patch-from on two ${sizeMb} MB files (a few minutes)...`);
      const best = await patchSize(RELEASES - 2, RELEASES - 1, 19);
      let chain = 0;
      for (let v = 1; v < RELEASES; v++) chain += await patchSize(v - 1, v, 3);

      console.log(
        `\n${sizeMb} MB database, ${RELEASES} releases (1% of records replaced and as many appended each). One behind: ${received(one.result)} bytes ` +
          `(patch ${one.result.patchBytes}, whole files ${one.result.downloadedBytes}, set manifest ${one.result.setManifestBytes}); ` +
          `three behind: ${received(three.result)} bytes; zstd -19 --patch-from: ${best} bytes; the three one-step patches: ${chain} bytes.`,
      );
      const kb = (bytes: number) => bytes / 1000;
      return [
        { name: 'one version behind: bytes received (patch, set manifest)', value: kb(received(one.result)), baseline: kb(setBytes), unit: 'kB', baselineName: `the set (${(setBytes / MB).toFixed(1)} MB)`, higherIsBetter: false, target: '<= 0.02x' },
        { name: 'the same bytes, against the stock tool at its best', value: kb(received(one.result)), baseline: kb(best), unit: 'kB', baselineName: 'zstd -19 --patch-from, same pair', higherIsBetter: false, target: '<= 1.2x' },
        { name: 'three versions behind: bytes received (one direct patch)', value: kb(received(three.result)), baseline: kb(chain), unit: 'kB', baselineName: 'the three one-step patches (a chain)', higherIsBetter: false },
        { name: `publish of release ${RELEASES} with patches from ${RELEASES - 1} versions: time`, value: last.patched.seconds, baseline: last.plain.seconds, unit: 's', baselineName: 'the same release, --patch-from-versions 0', higherIsBetter: false },
        { name: 'the same publish: peak RSS (largest process: node or zstd)', value: last.patched.peakMiB, baseline: last.plain.peakMiB, unit: 'MiB', baselineName: 'the same release, --patch-from-versions 0', higherIsBetter: false },
        { name: 'agent update one behind, patch applied: time (CLI process)', value: one.seconds, baseline: whole.seconds, unit: 's', baselineName: 'agent --no-patches: the whole file from the local origin', higherIsBetter: false },
        { name: 'the same update: peak RSS', value: one.peakMiB, baseline: whole.peakMiB, unit: 'MiB', baselineName: 'agent --no-patches, as above', higherIsBetter: false },
      ];
    } finally {
      await local.stop();
      await rm(work, { recursive: true, force: true });
    }
  },
};
