/**
 * "The server stopped mid-download, then restarted": a stack of its own (its own data
 * dir and port), a large target, the stack stopped while the agent is halfway through
 * it, started again on the same port and data, and the agent resumes with Range and
 * completes, verified.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { register, update } from '../../agent/index.ts';
import type { FetchLike, UpdateResult } from '../../agent/index.ts';
import { Response as UndiciResponse, fetch as undiciFetch } from 'undici';
import { readDemoFile } from '#local/demo.ts';
import type { RunningSignet } from '#test/support/cli.ts';
import { runSignet, startSignetLocal } from '#test/support/cli.ts';

const BIG = 48 * 1024 * 1024;
let work: string | undefined;
let local: RunningSignet | undefined;

afterAll(async () => {
  await local?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Size of the first `.partial` download in the agent's store, 0 if none yet. */
async function partialBytes(agentDir: string): Promise<number> {
  const store = join(agentDir, 'store');
  const partial = (await readdir(store).catch(() => [] as string[])).find((f) => f.endsWith('.partial'));
  return partial ? ((await stat(join(store, partial)).catch(() => undefined))?.size ?? 0) : 0;
}

describe('an update across a server restart', () => {
  it('resumes the interrupted download with Range after the server comes back, and installs the verified set', async () => {
    work = await mkdtemp(join(tmpdir(), 'signet-restart-'));
    const dataDir = join(work, 'data');
    local = await startSignetLocal(['--port', '0', '--data-dir', dataDir, '--quiet']);
    const port = new URL(local.baseUrl).port;
    const demo = await readDemoFile(dataDir);
    if (!demo) throw new Error('no demo.json');

    const setDir = join(work, 'set');
    await mkdir(setDir);
    await writeFile(join(setDir, 'big.db'), randomBytes(BIG));
    const published = await runSignet(['publish', '--product', 'demo-av', '--version', '2.0.0', '--dir', setDir, '--channel', 'stable', '--data-dir', dataDir, '--json'], process.env, 120_000);
    expect(published.code).toBe(0);

    const agentDir = join(work, 'agent');
    await register({ dir: agentDir, server: local.baseUrl, licenseKey: demo.licenseKey, product: 'demo-av', root: join(dataDir, 'root.json') });
    // Target bodies trickle until the server is stopped, so the stop lands mid-file on any machine.
    let stopping: Promise<number | null> | undefined;
    const trickleUntilStopped: FetchLike = async (url, init) => {
      const response = await undiciFetch(url, init);
      if (!url.includes('/targets/') || !response.body) return response;
      const reader = response.body.getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { done, value } = await reader.read();
          if (done) return controller.close();
          if (!stopping) await new Promise((r) => setTimeout(r, 5));
          controller.enqueue(value);
        },
        cancel: (reason) => reader.cancel(reason),
      });
      return new UndiciResponse(body, { status: response.status, headers: response.headers });
    };
    const updating: Promise<UpdateResult | Error> = update({
      dir: agentDir,
      http: { fetch: trickleUntilStopped },
      onProgress: ({ bytes }) => {
        if (!stopping && bytes > 1024 * 1024) stopping = local?.stop('SIGTERM');
      },
    }).catch((error: unknown) => error as Error);

    const deadline = Date.now() + 60_000;
    while (!stopping && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(await stopping).toBe(0);
    const kept = await partialBytes(agentDir);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(BIG);

    local = await startSignetLocal(['--port', port, '--data-dir', dataDir, '--quiet']);
    let result = await updating;
    if (result instanceof Error) result = await update({ dir: agentDir }); // it gave up while the server was down: run again
    expect(result).toMatchObject({ result: 'installed', version: '2.0.0' });
    if (result.result !== 'installed') return;
    expect(result.resumedDownloads).toBeGreaterThanOrEqual(1);
    expect(result.downloadedBytes).toBeLessThan(BIG + 64 * 1024); // the kept part was not fetched again
    expect((await stat(join(agentDir, 'current', 'big.db'))).size).toBe(BIG);
  }, 240_000);
});
