/**
 * The reference agent's download throughput from the local origin, next to curl
 * fetching the same files with the same grant in the same run. The agent's time is a
 * whole fresh install (timestamp, manifest, TUF refresh, downloads 4 at a time with
 * hashing, the atomic switch, the report); curl only downloads, 4 at a time too.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register, statePath, update } from '../../agent/index.ts';
import { readDemoFile } from '#local/demo.ts';
import { runSignet, startSignetLocal } from '#test/support/cli.ts';
import type { Figure, Suite } from '../harness.ts';
import { liftRateLimits } from '../harness.ts';

const FILES = 16;
const FILE_BYTES = Number(process.env.BENCH_AGENT_FILE_MB ?? 4) * 1024 * 1024;

function curlAll(urls: readonly string[], outDir: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = ['-sf', '--parallel', '--parallel-max', '4'];
    urls.forEach((url, i) => args.push('-o', join(outDir, `f${i}`), url));
    const started = performance.now();
    const child = spawn('curl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`curl exited with ${code}: ${stderr}`))));
  });
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

      const agentDir = join(work, 'agent');
      await register({ dir: agentDir, server: local.baseUrl, licenseKey: demo.licenseKey, product: 'demo-av', root: join(dataDir, 'root.json') });
      const started = performance.now();
      const result = await update({ dir: agentDir });
      const agentMs = performance.now() - started;
      if (result.result !== 'installed') throw new Error('the agent installed nothing');

      // curl: the same files, found through the agent's own (verified) set manifest and a fresh grant.
      const state = JSON.parse(await readFile(statePath(agentDir), 'utf8')) as { token: string };
      const manifest = (await (await fetch(`${local.baseUrl}/v1/manifest`, { method: 'POST', headers: { authorization: `Bearer ${state.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ product: 'demo-av' }) })).json()) as {
        targetsUrl: string;
        setManifest: string;
        download: { query: string };
      };
      const set = (await (await fetch(`${manifest.targetsUrl}${manifest.setManifest}?${manifest.download.query}`)).json()) as { files: Array<{ target: string }> };
      const curlDir = join(work, 'curl');
      await mkdir(curlDir);
      const curlMs = await curlAll(set.files.map((f) => `${manifest.targetsUrl}${f.target}?${manifest.download.query}`), curlDir);

      const mb = (FILES * FILE_BYTES) / 1e6;
      return [
        { name: `agent fresh install of ${FILES} x ${FILE_BYTES / 1024 / 1024} MB: throughput`, value: mb / (agentMs / 1000), baseline: mb / (curlMs / 1000), unit: 'MB/s', baselineName: 'curl --parallel-max 4, same files and grant', higherIsBetter: true, target: '>= 0.8x' },
      ];
    } finally {
      await local.stop();
      await rm(work, { recursive: true, force: true });
    }
  },
};
