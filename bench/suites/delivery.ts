/**
 * The manifest, the hot path. In-process against DynamoDB Local:
 *  - handler time for a 1-file vs a 1,000-file release (the cost must not grow with files);
 *  - asymmetric signatures per 10,000 manifest requests (one per product per window);
 *  - DynamoDB round trips per manifest request (counted by a middleware on the handler's client).
 * Then through the local origin over HTTP: manifest throughput against a bare Node
 * server answering a constant JSON on the same machine.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { ManifestDeps } from '#functions/manifest/handler.ts';
import type { ReleasesDeps } from '#functions/releases/handler.ts';
import { s3Uploader } from '#lib/aws/upload.ts';
import { localTableName, mainTable } from '#lib/definitions/tables.ts';
import { createLicense } from '#lib/licensing/admin.ts';
import { LicensingStore } from '#lib/licensing/store.ts';
import { promote } from '#lib/releases/channels.ts';
import { toApiGatewayEvent } from '#lib/edge/api-gateway-event.ts';
import { publishInProcess } from '#local/demo-set.ts';
import { localAdminArn } from '#local/region.ts';
import { startLocalStack } from '#local/stack.ts';
import { tufSigner } from '#local/tuf-keys.ts';
import { readDemoFile } from '#local/demo.ts';
import { startSignetLocal } from '#test/support/cli.ts';
import type { Figure, Suite } from '../harness.ts';
import { liftRateLimits, liftedRateLimits, load, manifestLoad, registeredToken, startBareServer } from '../harness.ts';

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<{ statusCode?: number; body?: string }>;
const context = { awsRequestId: 'bench', getRemainingTimeInMillis: () => 10_000 } as unknown as Context;
const REQUESTS = Number(process.env.BENCH_MANIFEST_REQUESTS ?? 10_000);
const TIMED = 500;

function post(path: string, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyEventV2 {
  return toApiGatewayEvent(
    { method: 'POST', url: path, headers: { host: 'bench', 'content-type': 'application/json', ...headers }, body: Buffer.from(JSON.stringify(body)), sourceIp: '127.0.0.1', receivedAt: new Date() },
    { routeKey: `POST ${path}`, pathParameters: {} },
  );
}

async function inProcess(): Promise<Figure[]> {
  const dataDir = await mkdtemp(join(tmpdir(), 'signet-bench-manifest-'));
  const stack = await startLocalStack({ port: 0, host: '127.0.0.1', dataDir, fresh: false, runtime: liftedRateLimits });
  try {
    const releases = stack.functions.get('releases')?.deps as ReleasesDeps;
    const deps = { ...releases, upload: s3Uploader(stack.s3, releases.bucket) };
    const signer = await tufSigner(dataDir, 'targets');
    const many: Record<string, string> = {};
    for (let i = 0; i < 1000; i++) many[`sig-${String(i).padStart(4, '0')}.db`] = `signatures ${i}`;
    await publishInProcess(deps, signer, { product: 'bench-one', version: '1.0.0', files: { 'main.sig': 'one' } }, localAdminArn);
    await publishInProcess(deps, signer, { product: 'bench-many', version: '1.0.0', files: many }, localAdminArn);
    for (const product of ['bench-one', 'bench-many']) await promote(deps.store, { product, channel: 'stable', version: '1.0.0', percent: 100 }, localAdminArn, new Date());
    const { licenseKey } = await createLicense(new LicensingStore(stack.dynamo, localTableName(mainTable)), { customer: 'bench', products: ['bench-one', 'bench-many'], seats: 10, expires: '2099-12-31' }, 'bench', new Date());

    const agents = stack.functions.get('agents')?.handler as unknown as Handler;
    const manifestFunction = stack.functions.get('manifest');
    const manifest = manifestFunction?.handler as unknown as Handler;
    const tokenFor = async (product: string) =>
      (JSON.parse((await agents(post('/v1/agents', { licenseKey, machineId: `bench-${product}`, product, os: 'linux', arch: 'x64' }), context)).body ?? '{}') as { token: string }).token;
    const tokens = { one: await tokenFor('bench-one'), many: await tokenFor('bench-many') };

    let roundTrips = 0;
    stack.dynamo.middlewareStack.add(
      (next) => async (args) => {
        roundTrips++;
        return next(args);
      },
      { step: 'deserialize', name: 'benchManifestRoundTrips' },
    );
    async function timed(product: 'one' | 'many', n: number): Promise<number> {
      const event = () => post('/v1/manifest', { product: `bench-${product}` }, { authorization: `Bearer ${tokens[product]}` });
      for (let i = 0; i < 50; i++) await manifest(event(), context); // warm
      const started = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        const result = await manifest(event(), context);
        if (result.statusCode !== 200) throw new Error(`manifest: ${result.statusCode} ${result.body}`);
      }
      return Number(process.hrtime.bigint() - started) / 1e6 / n;
    }
    const oneMs = await timed('one', TIMED);
    const manyMs = await timed('many', TIMED);

    roundTrips = 0;
    for (let i = 0; i < REQUESTS; i++) {
      const product = i % 2 === 0 ? 'one' : 'many';
      await manifest(post('/v1/manifest', { product: `bench-${product}` }, { authorization: `Bearer ${tokens[product]}` }), context);
    }
    // Every manifest request this function instance served (warm-up and timed ones included) and every signature it made.
    const served = REQUESTS + 2 * (TIMED + 50);
    const signatures = (manifestFunction?.deps as ManifestDeps).grants.signatures;
    const perRequest = roundTrips / REQUESTS;
    return [
      { name: 'manifest handler time, 1,000-file release', value: manyMs, baseline: oneMs, unit: 'ms', baselineName: '1-file release', higherIsBetter: false, target: '< 1.5x' },
      { name: `asymmetric signatures over ${served.toLocaleString('en-US')} manifest requests (2 products, one instance)`, value: signatures, baseline: 2, unit: 'signatures', baselineName: 'one per product per window', higherIsBetter: false, target: '1 per product per window' },
      { name: 'DynamoDB round trips per manifest request', value: perRequest, baseline: 1, unit: 'RT', baselineName: 'one BatchGetItem', higherIsBetter: false, target: '<= 2 RT' },
    ];
  } finally {
    await stack.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}


async function overHttp(): Promise<Figure[]> {
  const work = await mkdtemp(join(tmpdir(), 'signet-bench-http-'));
  const env = liftRateLimits({ ...process.env });
  const local = await startSignetLocal(['--port', '0', '--data-dir', join(work, 'data'), '--quiet'], env);
  await writeFile(join(work, 'empty'), '');
  const bare = await startBareServer(join(work, 'empty'));
  try {
    const demo = await readDemoFile(join(work, 'data'));
    if (!demo) throw new Error('no demo.json');
    const token = await registeredToken(local.baseUrl, demo.licenseKey, demo.product, 'bench-http');
    const result = await manifestLoad(local.baseUrl, token, demo.product);
    const baseline = await load(`${bare.url}/v1/health`);
    return [{ name: 'POST /v1/manifest throughput through the local origin', value: result.requestsPerSecond, baseline: baseline.requestsPerSecond, unit: 'req/s', baselineName: 'bare Node server, constant JSON', higherIsBetter: true }];
  } finally {
    bare.stop();
    await local.stop();
    await rm(work, { recursive: true, force: true });
  }
}

export const deliverySuite: Suite = {
  name: 'manifest and download grants',
  async run(): Promise<Figure[]> {
    return [...(await inProcess()), ...(await overHttp())];
  },
};
