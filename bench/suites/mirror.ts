/**
 * A site mirror (`signet mirror serve`, run through the CLI as a child process, as a site
 * runs it) in front of `signet local`, with a release of FILES x FILE_BYTES:
 *  - upstream egress for AGENTS agents installing the release behind the mirror (its lease
 *    and sync, then the sync that relays their reports, here the one a restart makes at
 *    once) against one agent installing it directly; counted in the upstream's access log
 *    (response body bytes, like nginx's `body_bytes_sent`);
 *  - the mirror's peak RSS while it served those agents, against an idle `node -e`;
 *  - one target downloaded from the mirror with a grant from its manifest, against nginx
 *    (one worker) serving the same file from the mirror's store, and against a bare Node
 *    server streaming it; fetched by curl, since autocannon is slower than any of them at
 *    bodies this size;
 *  - one agent's `POST /v1/manifest` at the mirror, against a bare Node server answering a
 *    constant JSON.
 */
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register, update } from '../../agent/index.ts';
import { storeDir } from '../../agent/file-store.ts';
import { adminClient } from '#cli/admin-client.ts';
import { runSignet, startSignetLocal, startSignetMirror } from '#test/support/cli.ts';
import type { Figure, Suite } from '../harness.ts';
import { curlThroughput, grantedTargetUrls, liftRateLimits, load, manifestLoad, median, peakRssMiB, registeredToken, startBareServer, startNginx } from '../harness.ts';

const AGENTS = 50;
const FILES = 4;
const FILE_BYTES = 1024 * 1024;
const PRODUCT = 'demo-av';
const ROUNDS = 5;

/** The upstream's access log: `<time> <method> <path> <status> <body bytes> <ms>` a line. */
class AccessLog {
  constructor(private readonly file: string) {}

  /** Its lines once nothing has been added for a moment (a line is appended after its answer ends). */
  private async settled(): Promise<string[]> {
    let text = '';
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const now = await readFile(this.file, 'utf8').catch(() => '');
      if (now === text) return text.split('\n').filter(Boolean);
      text = now;
    }
  }

  /** Where the next phase's lines begin. */
  async mark(): Promise<number> {
    return (await this.settled()).length;
  }

  /** The body bytes of the lines since `mark`, once a line for `last` (the phase's final request) is among them. */
  async bytesSince(mark: number, last: string): Promise<number> {
    for (let tries = 0; tries < 50; tries++) {
      const lines = (await this.settled()).slice(mark);
      if (!lines.some((line) => line.split(' ').slice(1, 3).join(' ') === last)) continue;
      if (process.env.BENCH_DEBUG) console.error(lines.join('\n'));
      return lines.reduce((sum, line) => sum + Number(line.split(' ')[4]), 0);
    }
    throw new Error(`the upstream's access log has no ${last} after line ${mark}`);
  }
}

/** The peak RSS of a `node -e` that does nothing: what Node itself takes. */
async function idleNodePeakRssMiB(): Promise<number> {
  const idle = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
  try {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    return await peakRssMiB(idle.pid ?? 0);
  } finally {
    idle.kill();
  }
}

export const mirrorSuite: Suite = {
  name: `site mirror (signet mirror serve) vs nginx, a bare Node server and agents going direct`,
  async run(): Promise<Figure[]> {
    const work = await mkdtemp(join(tmpdir(), 'signet-bench-mirror-'));
    const dataDir = join(work, 'data');
    const upstreamLog = new AccessLog(join(work, 'upstream-access.log'));
    const env = liftRateLimits({ ...process.env });
    const local = await startSignetLocal(['--port', '0', '--data-dir', dataDir, '--quiet', '--access-log', join(work, 'upstream-access.log')], env);
    const stops: Array<() => unknown> = [() => local.stop()];
    try {
      const setDir = join(work, 'set');
      await mkdir(setDir);
      const first = randomBytes(FILE_BYTES);
      await writeFile(join(setDir, 'part-0.db'), first);
      for (let i = 1; i < FILES; i++) await writeFile(join(setDir, `part-${i}.db`), randomBytes(FILE_BYTES));
      const published = await runSignet(['publish', '--product', PRODUCT, '--version', '2.0.0', '--dir', setDir, '--channel', 'stable', '--data-dir', dataDir, '--json'], process.env, 300_000);
      if (published.code !== 0) throw new Error(`publish failed: ${published.stderr}`);
      const admin = await adminClient({ dataDir, server: local.baseUrl });
      // The mirror's seats (its agents and the one the loads below use) and one for the agent that goes direct.
      const { licenseKey } = await admin.call<{ licenseKey: string }>('POST', '/v1/admin/licenses', { customer: 'bench mirror', products: [PRODUCT], seats: AGENTS + 2, expires: '2099-12-31' });
      const root = join(dataDir, 'root.json');
      const installThrough = async (server: string, name: string) => {
        const dir = join(work, 'agents', name);
        await register({ dir, server, licenseKey, product: PRODUCT, root, machineId: `bench-${name}` });
        const result = await update({ dir });
        if (result.result !== 'installed' || result.version !== '2.0.0') throw new Error(`agent ${name} did not install 2.0.0: ${JSON.stringify(result)}`);
      };

      let mark = await upstreamLog.mark();
      await installThrough(local.baseUrl, 'direct');
      const directBytes = await upstreamLog.bytesSince(mark, 'POST /v1/reports');

      mark = await upstreamLog.mark();
      const mirrorDir = join(work, 'mirror');
      // Syncs at start (and at a restart) only: the figures are not a poll's.
      const serve = ['--upstream', local.baseUrl, '--license', licenseKey, '--seats', String(AGENTS + 1), '--root', root, '--port', '0', '--host', '127.0.0.1', '--data-dir', mirrorDir, '--poll-seconds', '86400', '--quiet'];
      const serving = await startSignetMirror(serve, env);
      stops.push(() => serving.stop());
      await Promise.all(Array.from({ length: AGENTS }, (_, i) => installThrough(serving.baseUrl, `behind-${i}`)));
      const mirrorPeakMiB = await peakRssMiB(serving.child.pid ?? 0);
      await serving.stop();
      const mirror = await startSignetMirror(serve, env);
      stops.push(() => mirror.stop());
      const mirrorBytes = await upstreamLog.bytesSince(mark, 'POST /v1/mirrors/reports');

      const sha256 = createHash('sha256').update(first).digest('hex');
      const nginx = await startNginx(storeDir(mirrorDir), join(work, 'nginx'));
      const bare = await startBareServer(join(setDir, 'part-0.db'));
      stops.push(() => nginx?.stop(), () => bare.stop());
      const token = await registeredToken(mirror.baseUrl, licenseKey, PRODUCT, 'bench-load');
      const target = (await grantedTargetUrls(mirror.baseUrl, token, PRODUCT)).urls.find((url) => url.includes(sha256));
      if (!target) throw new Error('the mirror\'s set manifest does not name part-0.db');
      // Rounds in turn: the mirror, the same file from disk (nginx, or the bare server without it), and the bare server for scale.
      const fromMirror: number[] = [];
      const fromDisk: number[] = [];
      const fromNode: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        fromMirror.push(await curlThroughput(target, FILE_BYTES));
        fromDisk.push(await curlThroughput(`${(nginx ?? bare).url}/${sha256}`, FILE_BYTES));
        if (nginx) fromNode.push(await curlThroughput(`${bare.url}/${sha256}`, FILE_BYTES));
      }
      const diskName = nginx ? `nginx, 1 worker, sendfile, the same file; curl 8 at a time, median of ${ROUNDS} rounds` : 'bare Node server, file stream (no nginx on PATH or in /usr/sbin: install it for the nginx baseline)';
      const manifests = await manifestLoad(mirror.baseUrl, token, PRODUCT);
      const constantJson = await load(`${bare.url}/v1/health`);

      return [
        // The targets: against what a site would run instead (nginx), and the least a Node server can answer.
        { name: `target download (${FILE_BYTES / 1024 / 1024} MiB) from the mirror, grant from its manifest: throughput`, value: median(fromMirror), baseline: median(fromDisk), unit: 'MB/s', baselineName: diskName, higherIsBetter: true, target: '>= 0.7x' },
        // What the mirror's checks (grant, path guard, index) cost over Node's own file stream.
        ...(nginx ? [{ name: 'the same download from the mirror, against a bare Node server streaming the file', value: median(fromMirror), baseline: median(fromNode), unit: 'MB/s', baselineName: 'bare Node server, file stream', higherIsBetter: true }] : []),
        { name: 'POST /v1/manifest throughput at the mirror', value: manifests.requestsPerSecond, baseline: constantJson.requestsPerSecond, unit: 'req/s', baselineName: 'bare Node server, constant JSON', higherIsBetter: true, target: '>= 0.3x' },
        {
          name: `upstream egress (response bodies, its access log) for ${AGENTS} agents installing ${FILES} x ${FILE_BYTES / 1024 / 1024} MiB behind one mirror (lease, sync, reports relayed)`,
          value: mirrorBytes / 1e3,
          baseline: directBytes / 1e3,
          unit: 'kB',
          baselineName: '1 agent installing directly',
          higherIsBetter: false,
          target: '<= 1.1x',
        },
        { name: `peak RSS of the mirror process while it served those ${AGENTS} agents`, value: mirrorPeakMiB, baseline: await idleNodePeakRssMiB(), unit: 'MiB', baselineName: 'idle `node -e`', higherIsBetter: false },
      ];
    } finally {
      for (const stop of stops.reverse()) await stop();
      await rm(work, { recursive: true, force: true });
    }
  },
};
