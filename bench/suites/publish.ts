/**
 * Re-publishing a large signature set in which 1% of the files changed: `signet publish`
 * uploads only what the bucket lacks (content-addressed targets, one listing), so it
 * should upload about 1% of the bytes. Baseline: `aws s3 sync` of the same directory to
 * the same local S3 (first sync, change the same 1%, time the second sync), which also
 * uploads only changed files but signs nothing.
 *
 * Size: `BENCH_PUBLISH_MB` (default 200) files of 1 MB of random bytes. A local stack of
 * its own (in-process), the real CLI as a child process for each publish.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localCredentials } from '#local/s3-local.ts';
import { startLocalStack } from '#local/stack.ts';
import { runSignet } from '#test/support/cli.ts';
import type { Figure, Suite } from '../harness.ts';

const MB = 1024 * 1024;
const PRODUCT = 'bench-publish-av';

interface PublishJson {
  files: number;
  bytes: number;
  uploadedFiles: number;
  uploadedBytes: number;
}

async function timedPublish(dataDir: string, dir: string, version: string): Promise<{ ms: number; summary: PublishJson }> {
  const started = performance.now();
  const result = await runSignet(['publish', '--product', PRODUCT, '--version', version, '--dir', dir, '--data-dir', dataDir, '--json'], process.env, 30 * 60_000);
  const ms = performance.now() - started;
  if (result.code !== 0) throw new Error(`signet publish ${version} failed: ${result.stderr.trim()}`);
  return { ms, summary: JSON.parse(result.stdout) as PublishJson };
}

/** `aws s3 sync`, timed; undefined when the AWS CLI is not installed. */
function timedSync(s3Endpoint: string, bucket: string, dir: string): Promise<{ ms: number; uploads: number } | undefined> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('aws', ['--endpoint-url', s3Endpoint, 's3', 'sync', dir, `s3://${bucket}/bench-sync/`, '--no-progress'], {
      env: { ...process.env, AWS_ACCESS_KEY_ID: localCredentials.accessKeyId, AWS_SECRET_ACCESS_KEY: localCredentials.secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1', AWS_PAGER: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? resolve(undefined) : reject(error)));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`aws s3 sync exited with ${code}: ${output.trim().split('\n').slice(-3).join(' / ')}`));
      resolve({ ms: performance.now() - started, uploads: output.split('\n').filter((l) => l.startsWith('upload:')).length });
    });
  });
}

export const publishSuite: Suite = {
  name: 'publish: re-publishing a set with 1% of its files changed',
  async run(): Promise<Figure[]> {
    const sizeMb = Number(process.env.BENCH_PUBLISH_MB ?? 200);
    if (!Number.isInteger(sizeMb) || sizeMb < 1) throw new Error(`BENCH_PUBLISH_MB must be a positive whole number, got ${process.env.BENCH_PUBLISH_MB}`);
    const work = await mkdtemp(join(tmpdir(), 'signet-bench-pub-'));
    const dataDir = join(work, 'data');
    const setDir = join(work, 'set');
    await mkdir(setDir);
    const stack = await startLocalStack({ port: 0, host: '127.0.0.1', dataDir, fresh: false });
    try {
      const names = Array.from({ length: sizeMb }, (_, i) => `part-${String(i).padStart(4, '0')}.sig`);
      for (const name of names) await writeFile(join(setDir, name), randomBytes(MB));
      const changed = names.filter((_, i) => i % 100 === 0); // 1% (at least one file)

      const first = await timedPublish(dataDir, setDir, '1.0.0');
      const firstSync = await timedSync(stack.s3Endpoint, stack.bucket, setDir);

      for (const name of changed) await writeFile(join(setDir, name), randomBytes(MB));
      const again = await timedPublish(dataDir, setDir, '1.1.0');
      const secondSync = firstSync ? await timedSync(stack.s3Endpoint, stack.bucket, setDir) : undefined;

      const total = again.summary.bytes;
      console.log(
        `\n${sizeMb} files of 1 MB, ${changed.length} changed. Re-publish uploaded ${again.summary.uploadedFiles} files, ` +
          `${(again.summary.uploadedBytes / MB).toFixed(1)} of ${(total / MB).toFixed(1)} MB (${((100 * again.summary.uploadedBytes) / total).toFixed(2)}%).` +
          (secondSync ? ` aws s3 sync uploaded ${secondSync.uploads} files on its second run.` : ' The AWS CLI (aws) is not installed: no aws s3 sync baseline.'),
      );
      const syncName = (run: string) => (secondSync ? `aws s3 sync, ${run} run, same dir, same local S3` : 'aws CLI not installed: no baseline');
      return [
        {
          name: `re-publish, ${changed.length} of ${sizeMb} files changed: bytes uploaded`,
          value: again.summary.uploadedBytes / MB,
          baseline: total / MB,
          unit: 'MB',
          baselineName: 'the whole set',
          higherIsBetter: false,
          target: 'about 0.01x (1% changed)',
        },
        {
          name: 're-publish time (hash, list, upload changes, sign, commit; CLI start included)',
          value: again.ms / 1000,
          baseline: (secondSync?.ms ?? 0) / 1000,
          unit: 's',
          baselineName: syncName('second'),
          higherIsBetter: false,
        },
        {
          name: 'first publish time (everything uploaded)',
          value: first.ms / 1000,
          baseline: (firstSync?.ms ?? 0) / 1000,
          unit: 's',
          baselineName: syncName('first'),
          higherIsBetter: false,
        },
      ];
    } finally {
      await stack.stop();
      await rm(work, { recursive: true, force: true });
    }
  },
};
