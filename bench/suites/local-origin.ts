/**
 * The local origin against a bare Node server: `GET /v1/health` (API Gateway event,
 * middy, a DynamoDB Local read) and a signed target download (signature verification,
 * an s3rver read, streaming).
 */
import { randomBytes, createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/cloudfront-signer';
import { localBucketName } from '#lib/definitions/bucket.ts';
import { readLocalCdnKey } from '#lib/cdn/key-files.ts';
import { localS3Client } from '#local/s3-local.ts';
import { startSignetLocal } from '#test/support/cli.ts';
import type { Figure, Suite } from '../harness.ts';
import { load, startBareServer } from '../harness.ts';

const TARGET_BYTES = 256 * 1024;


export const localOriginSuite: Suite = {
  name: 'local origin vs a bare Node HTTP server (same machine, same run)',
  async run(): Promise<Figure[]> {
    const work = await mkdtemp(join(tmpdir(), 'signet-bench-'));
    const dataDir = join(work, 'data');
    const local = await startSignetLocal(['--port', '0', '--data-dir', dataDir, '--quiet']);
    const body = randomBytes(TARGET_BYTES);
    const file = join(work, 'target.bin');
    await writeFile(file, body);
    const bare = await startBareServer(file);
    try {
      // Put the target where the stack serves it from, through the S3 API.
      const s3Endpoint = /endpoints: s3 (http\S+)/.exec(local.output())?.[1];
      if (!s3Endpoint) throw new Error('signet local printed no s3 endpoint');
      const key = `targets/bench/${createHash('sha256').update(body).digest('hex')}.target.bin`;
      const s3 = localS3Client(s3Endpoint);
      await s3.send(new PutObjectCommand({ Bucket: localBucketName, Key: key, Body: body }));
      s3.destroy();
      const { keyPairId, privateKeyPem } = await readLocalCdnKey(dataDir);
      const signedUrl = getSignedUrl({
        url: `${local.baseUrl}/${key}`,
        keyPairId,
        privateKey: privateKeyPem,
        algorithm: 'SHA256',
        dateLessThan: new Date(Date.now() + 3_600_000),
      });

      const healthLocal = await load(`${local.baseUrl}/v1/health`);
      const healthBare = await load(`${bare.url}/v1/health`);
      const targetLocal = await load(signedUrl, { connections: 8 });
      const targetBare = await load(`${bare.url}/${key}`, { connections: 8 });
      for (const [name, r] of Object.entries({ healthLocal, targetLocal })) {
        if (r.non2xx > 0 || r.errors > 0) throw new Error(`${name}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
      }
      const bareName = 'bare Node server';
      return [
        { name: 'GET /v1/health throughput', value: healthLocal.requestsPerSecond, baseline: healthBare.requestsPerSecond, unit: 'req/s', baselineName: bareName, higherIsBetter: true },
        { name: 'GET /v1/health p99 latency', value: healthLocal.p99Ms, baseline: healthBare.p99Ms, unit: 'ms', baselineName: bareName, higherIsBetter: false },
        { name: `signed target download (${TARGET_BYTES / 1024} KiB) throughput`, value: targetLocal.bytesPerSecond / 1e6, baseline: targetBare.bytesPerSecond / 1e6, unit: 'MB/s', baselineName: `${bareName}, file stream`, higherIsBetter: true },
        { name: 'signed target download p99 latency', value: targetLocal.p99Ms, baseline: targetBare.p99Ms, unit: 'ms', baselineName: bareName, higherIsBetter: false },
      ];
    } finally {
      bare.stop();
      await local.stop();
      await rm(work, { recursive: true, force: true });
    }
  },
};
