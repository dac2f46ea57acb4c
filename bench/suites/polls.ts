/**
 * What an idle day costs: one agent polling every 15 minutes through a simulated day of
 * hourly timestamp re-signs, with no release and then with 4 releases. Counted: the
 * manifest requests it makes, next to what the earlier rule (ask whenever timestamp.json's
 * bytes changed) would have made over the same polls. Time is simulated: a "poll" is one
 * `update()`, an "hour" one run of the scheduled refresh.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Response, fetch as undiciFetch } from 'undici';
import type { FetchLike } from '../../agent/index.ts';
import { register, update } from '../../agent/index.ts';
import type { ReleasesDeps } from '#functions/releases/handler.ts';
import { s3Uploader } from '#lib/aws/upload.ts';
import { createLogger } from '#lib/log.ts';
import { promoteRollout } from '#lib/releases/rollout.ts';
import { publishInProcess } from '#local/demo-set.ts';
import { localAdminArn } from '#local/region.ts';
import { startLocalStack } from '#local/stack.ts';
import { readDemoFile } from '#local/demo.ts';
import { tufSigner } from '#local/tuf-keys.ts';
import type { Figure, Suite } from '../harness.ts';

const POLLS_PER_HOUR = 4;
const HOURS = 24;

export const pollsSuite: Suite = {
  name: 'idle polls: manifest requests per agent per simulated day (15-minute polls, hourly re-signs)',
  async run(): Promise<Figure[]> {
    const work = await mkdtemp(join(tmpdir(), 'signet-bench-polls-'));
    // Warnings only: the refresh logs a line per simulated hour.
    const stack = await startLocalStack({ port: 0, host: '127.0.0.1', dataDir: join(work, 'data'), fresh: false, functionLogger: (id) => createLogger(id, { logLevel: 'WARN' }) });
    try {
      const releases = stack.functions.get('releases')?.deps as ReleasesDeps;
      const refresh = stack.functions.get('timestampRefresh')?.handler;
      if (!refresh) throw new Error('no timestampRefresh function');
      const demo = await readDemoFile(stack.dataDir);
      const agentDir = join(work, 'agent');

      // Counts what the agent asks, and what the earlier rule would have asked over the same polls.
      let manifests = 0;
      let timestampChanges = 0;
      let lastTimestamp = '';
      const fetchImpl: FetchLike = async (url, init) => {
        const response = await undiciFetch(url, init);
        if (url.endsWith('/v1/manifest')) manifests++;
        if (!url.endsWith('/metadata/timestamp.json')) return response;
        const bytes = Buffer.from(await response.arrayBuffer());
        const hash = createHash('sha256').update(bytes).digest('hex');
        if (hash !== lastTimestamp) timestampChanges++;
        lastTimestamp = hash;
        return new Response(bytes, { status: response.status, headers: response.headers }) as unknown as Awaited<ReturnType<FetchLike>>;
      };
      const http = { env: {}, fetch: fetchImpl };
      await register({ dir: agentDir, server: stack.baseUrl, licenseKey: demo?.licenseKey ?? '', product: 'demo-av', root: join(stack.dataDir, 'root.json'), http });
      await update({ dir: agentDir, http });

      const signer = await tufSigner(stack.dataDir, 'targets');
      const upload = s3Uploader(stack.s3, releases.bucket);
      let release = 0;
      async function day(releaseHours: ReadonlySet<number>): Promise<{ manifests: number; oldRule: number }> {
        manifests = 0;
        timestampChanges = 0;
        for (let hour = 0; hour < HOURS; hour++) {
          await refresh?.({}, {} as never);
          if (releaseHours.has(hour)) {
            const version = `1.${++release}.0`;
            await publishInProcess({ ...releases, upload }, signer, { product: 'demo-av', version, files: { 'main.sig': `signatures ${version}\n` } }, localAdminArn);
            await promoteRollout(releases, { product: 'demo-av', channel: 'stable', version, percent: 100 }, localAdminArn);
          }
          for (let poll = 0; poll < POLLS_PER_HOUR; poll++) await update({ dir: agentDir, http });
        }
        return { manifests, oldRule: timestampChanges };
      }

      const quiet = await day(new Set());
      const busy = await day(new Set([3, 9, 15, 21]));
      const oldRule = 'earlier rule: ask when timestamp.json bytes changed';
      return [
        { name: 'manifest requests, a day with no release', value: quiet.manifests, baseline: quiet.oldRule, unit: 'requests', baselineName: oldRule, higherIsBetter: false, target: '0' },
        { name: 'manifest requests, a day with 4 releases', value: busy.manifests, baseline: busy.oldRule, unit: 'requests', baselineName: oldRule, higherIsBetter: false, target: '4' },
      ];
    } finally {
      await stack.stop();
      await rm(work, { recursive: true, force: true });
    }
  },
};
