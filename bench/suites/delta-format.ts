/**
 * Binary patches of a signature database (docs/tuf-repository.md, "Binary patches: the
 * format"): a zstd `--patch-from` patch of a synthetic .ndb (bench/signature-db.ts, ~2% of
 * the records changed), against the whole new version compressed; and applying it in Node
 * with the chosen decoder (@bokuweb/zstd-wasm, a child process) against the zstd CLI.
 *
 * Size: `BENCH_DELTA_MB` (default 60) MB base. Needs the zstd and GNU time commands
 * (Debian: `apt-get install zstd time`). The full comparison of formats and decoders is
 * `node --import tsx bench/delta-format.ts`.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyInNode, sha256, timed } from '../delta-format.ts';
import type { Figure, Suite } from '../harness.ts';
import { writeDatabase } from '../signature-db.ts';

const DECODER = '@bokuweb/zstd-wasm (wasm) decompressUsingDict';

export const deltaFormatSuite: Suite = {
  name: 'delta-format: a zstd --patch-from patch of a signature database, applied in Node',
  async run(): Promise<Figure[]> {
    const sizeMb = Number(process.env.BENCH_DELTA_MB ?? 60);
    if (!(sizeMb > 0)) throw new Error(`BENCH_DELTA_MB must be a positive number, got ${process.env.BENCH_DELTA_MB}`);
    const work = await mkdtemp(join(tmpdir(), 'signet-bench-delta-'));
    try {
      const file = (v: number) => join(work, `v${v}.ndb`);
      await writeDatabase(file, 42, sizeMb * 1e6, 1);
      const [base, next, patch, whole, out] = [file(0), file(1), join(work, 'patch.zst'), join(work, 'v1.zst'), join(work, 'out')];
      await timed('zstd', ['-q', '-f', '-3', `--patch-from=${base}`, next, '-o', patch]);
      await timed('zstd', ['-q', '-f', '-3', '--long=27', next, '-o', whole]);
      const cli = await timed('zstd', ['-q', '-f', '-d', '--long=31', `--patch-from=${base}`, patch, '-o', out]);
      const expected = await sha256(next);
      if ((await sha256(out)) !== expected) throw new Error('zstd -d --patch-from made a different file');
      const node = await applyInNode(DECODER, base, patch, expected);
      if (!node.result.startsWith('ok')) throw new Error(`${DECODER}: ${node.result}`);
      const cliName = 'zstd -d --long=31 --patch-from (CLI process)';
      return [
        {
          name: `patch, ${sizeMb} MB base, ~2% of records changed (zstd -3 --patch-from)`,
          value: (await stat(patch)).size / 1e6,
          baseline: (await stat(whole)).size / 1e6,
          unit: 'MB',
          baselineName: 'the whole new version, zstd -3 --long=27',
          higherIsBetter: false,
        },
        { name: `apply in Node, ${DECODER} (child process, start to end)`, value: node.seconds, baseline: cli.seconds, unit: 's', baselineName: cliName, higherIsBetter: false },
        { name: 'apply in Node: peak RSS', value: node.peakMiB, baseline: cli.peakMiB, unit: 'MiB', baselineName: cliName, higherIsBetter: false },
      ];
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  },
};
