/**
 * The reference agent's download throughput from the local origin, next to curl
 * fetching the same files with the same grant in the same run, 4 at a time each.
 *
 * Medians of alternating rounds (a fresh agent dir each round):
 * - download: the agent's file downloads (fetch, hash, streamed write, fsync, verify
 *   against the TUF target info, move into the store), its `downloadMs`; curl only
 *   fetches and writes. This is the 0.8x target.
 * - the same against curl followed by an fsync of each file it wrote: like for like on
 *   durability (the agent will not install what a power cut could undo).
 * - fresh install: the whole `update()` (timestamp, manifest, TUF refresh, the set
 *   manifest, the downloads, the atomic switch, the state write, the report) against
 *   the same curl time: what a user waits, with the protocol's fixed round trips in it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register, statePath, update } from '../../agent/index.ts';
import { readDemoFile } from '#local/demo.ts';
import { runSignet, startSignetLocal } from '#test/support/cli.ts';
import type { Figure, Suite } from '../harness.ts';
import { grantedTargetUrls, liftRateLimits, median, timedCommand } from '../harness.ts';

const FILES = 16;
const ROUNDS = Number(process.env.BENCH_AGENT_ROUNDS ?? 9);
const FILE_BYTES = Number(process.env.BENCH_AGENT_FILE_MB ?? 4) * 1024 * 1024;

/**
 * Flushes every dirty page before a timed part: the agent fsyncs what it installs and on
 * ext4 an fsync also waits for other files' pending writes, so curl's unflushed output of
 * the round before would otherwise be paid for by the agent. With files: fsyncs just those.
 */
function syncDisks(files: readonly string[] = []): Promise<number> {
  return timedCommand('sync', files);
}

function curlAll(urls: readonly string[], outDir: string): Promise<number> {
  const args = ['-sf', '--parallel', '--parallel-max', '4'];
  urls.forEach((url, i) => args.push('-o', join(outDir, `f${i}`), url));
  return timedCommand('curl', args);
}

export const agentSuite: Suite = {
  name: 'reference agent downloads vs curl (same files, same grant, same run)',
  async run(): Promise<Figure[]> {
    const work = await mkdtemp(join(tmpdir(), 'signet-bench-agent-'));
    const dataDir = join(work, 'data');
    const local = await startSignetLocal(['--port', '0', '--data-dir', dataDir, '--quiet'], liftRateLimits({ ...process.env }));
    try {
      const setDir = join(work, 'set');
      await mkdir(setDir);
      for (let i = 0; i < FILES; i++) await writeFile(join(setDir, `part-${i}.db`), randomBytes(FILE_BYTES));
      const published = await runSignet(['publish', '--product', 'demo-av', '--version', '2.0.0', '--dir', setDir, '--channel', 'stable', '--data-dir', dataDir, '--json'], process.env, 300_000);
      if (published.code !== 0) throw new Error(`publish failed: ${published.stderr}`);
      const demo = await readDemoFile(dataDir);
      if (!demo) throw new Error('no demo.json');

      const installAgent = async (round: number) => {
        const agentDir = join(work, `agent-${round}`);
        await register({ dir: agentDir, server: local.baseUrl, licenseKey: demo.licenseKey, product: 'demo-av', root: join(dataDir, 'root.json') });
        const started = performance.now();
        const result = await update({ dir: agentDir });
        const totalMs = performance.now() - started;
        if (result.result !== 'installed' || result.downloadedBytes !== FILES * FILE_BYTES) throw new Error('the agent did not download the whole set');
        return { agentDir, totalMs, downloadMs: result.downloadMs };
      };

      // curl: the same files, found through the agent's own (verified) set manifest and a fresh grant.
      const first = await installAgent(0);
      const state = JSON.parse(await readFile(statePath(first.agentDir), 'utf8')) as { token: string };
      const { urls, expiresAt } = await grantedTargetUrls(local.baseUrl, state.token, 'demo-av');

      // The first install warmed both sides up; then agent and curl take turns.
      const agentRounds: Array<{ totalMs: number; downloadMs: number }> = [];
      const curlRounds: number[] = [];
      const curlSyncedRounds: number[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        if (Date.parse(expiresAt) - Date.now() < 30_000) throw new Error('the grant expires before the rounds end: lower BENCH_AGENT_ROUNDS');
        await syncDisks();
        const agent = await installAgent(round);
        agentRounds.push(agent);
        // Into a new dir each round, as the agent's are: writing new files costs more than overwriting.
        const curlDir = join(work, `curl-${round}`);
        await mkdir(curlDir);
        await syncDisks();
        const curlMs = await curlAll(urls, curlDir);
        curlRounds.push(curlMs);
        // The same durability as the agent's: coreutils `sync FILE...` fsyncs each file.
        curlSyncedRounds.push(curlMs + (await syncDisks(urls.map((_, i) => join(curlDir, `f${i}`)))));
        if (process.env.BENCH_DEBUG) console.error(`round ${round}: agent download ${agent.downloadMs} ms, install ${agent.totalMs.toFixed(0)} ms; curl ${curlMs.toFixed(0)} ms, with fsync ${curlSyncedRounds.at(-1)?.toFixed(0)} ms`);
      }
      const curlMs = median(curlRounds);
      const curlSyncedMs = median(curlSyncedRounds);
      const agentMs = median(agentRounds.map((r) => r.totalMs));
      const downloadMs = median(agentRounds.map((r) => r.downloadMs));

      const mb = (FILES * FILE_BYTES) / 1e6;
      const curlName = `curl --parallel-max 4, same files and grant; median of ${ROUNDS} rounds`;
      return [
        { name: `agent download of ${FILES} x ${FILE_BYTES / 1024 / 1024} MB (fetch, hash, write, fsync, verify): throughput`, value: mb / (downloadMs / 1000), baseline: mb / (curlMs / 1000), unit: 'MB/s', baselineName: curlName, higherIsBetter: true, target: '>= 0.8x' },
        { name: 'the same agent download, against curl that also fsyncs what it wrote', value: mb / (downloadMs / 1000), baseline: mb / (curlSyncedMs / 1000), unit: 'MB/s', baselineName: 'curl as above, then `sync FILE...`', higherIsBetter: true },
        { name: `agent fresh install of the same set (protocol round trips, TUF refresh, downloads, switch, report): throughput`, value: mb / (agentMs / 1000), baseline: mb / (curlMs / 1000), unit: 'MB/s', baselineName: curlName, higherIsBetter: true },
      ];
    } finally {
      await local.stop();
      await rm(work, { recursive: true, force: true });
    }
  },
};
