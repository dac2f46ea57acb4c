/**
 * `npm run bench -- scale`: a release day of a simulated fleet, through the real handlers
 * in-process against DynamoDB Local, metered call by call (bench/capacity.ts), then scaled
 * to fleets of 1 M and 10 M agents (bench/scale-model.ts).
 *
 * The fleet: BENCH_SCALE_AGENTS agents (default 600) of one product; one license holds 30%
 * of them, seven others 10% each. They register (one license's mass roll-out), report the
 * current version, a new version is promoted to 100%, and every agent asks for a manifest
 * and reports it installed. Each registration, manifest and report is one metered request.
 *
 * Printed: per pattern, the capacity a request took; per fleet, the busiest partition keys
 * against DynamoDB's per-partition limits (target: at most half), the table against the
 * on-demand table quota, the API against API Gateway's account rate and Lambda's
 * concurrency. Not measured here: KMS signatures and SSM reads at cold starts (docs/scale.md).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ReleasesDeps } from '#functions/releases/handler.ts';
import { mapLimit } from '#lib/concurrency.ts';
import { s3Uploader } from '#lib/aws/upload.ts';
import { localTableName, mainTable } from '#lib/definitions/tables.ts';
import { toApiGatewayEvent } from '#lib/edge/api-gateway-event.ts';
import { createLicense } from '#lib/licensing/admin.ts';
import { agentKey } from '#lib/licensing/keys.ts';
import { LAST_SEEN_RESOLUTION_MS } from '#lib/licensing/model.ts';
import { LicensingStore } from '#lib/licensing/store.ts';
import { promote } from '#lib/releases/channels.ts';
import { releaseRecordsPolicy } from '#lib/releases/store.ts';
import { defaultRuntimeSettings } from '#lib/config.ts';
import { publishInProcess } from '#local/demo-set.ts';
import { localAdminArn } from '#local/region.ts';
import { startLocalStack } from '#local/stack.ts';
import { tufSigner } from '#local/tuf-keys.ts';
import { CapacityMeter } from '../capacity.ts';
import type { Figure, Suite } from '../harness.ts';
import { liftedRateLimits } from '../harness.ts';
import type { FleetShape, InstanceCache } from '../scale-model.ts';
import { PARTITION_LIMITS, QUOTAS, TARGET_SHARE, arrivalRates, keyLoads, keyShape, tableLoad } from '../scale-model.ts';

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<{ statusCode?: number; body?: string }>;

const AGENTS = Number(process.env.BENCH_SCALE_AGENTS ?? 600);
const CONCURRENCY = 16;
const PRODUCT = 'bench-scale';
const POLL_SECONDS = 900;
const FLEETS: readonly FleetShape[] = [
  { agents: 1_000_000, pollSeconds: POLL_SECONDS },
  { agents: 10_000_000, pollSeconds: POLL_SECONDS },
];
const context = { awsRequestId: 'bench', getRemainingTimeInMillis: () => 10_000 } as unknown as Context;

function post(path: string, body: unknown, token?: string): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = { host: 'bench', 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) };
  return toApiGatewayEvent({ method: 'POST', url: path, headers, body: Buffer.from(JSON.stringify(body)), sourceIp: '127.0.0.1', receivedAt: new Date() }, { routeKey: `POST ${path}`, pathParameters: {} });
}

async function call(handler: Handler, event: APIGatewayProxyEventV2, ok: readonly number[]): Promise<Record<string, unknown>> {
  const result = await handler(event, context);
  if (!ok.includes(result.statusCode ?? 0)) throw new Error(`${event.rawPath}: ${result.statusCode} ${result.body}`);
  return JSON.parse(result.body ?? '{}') as Record<string, unknown>;
}

/** The simulated release day; returns the meter and each pattern's handler seconds per request. */
async function simulate(): Promise<{ meter: CapacityMeter; seconds: Map<string, number> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'signet-bench-scale-'));
  // No channel kept: every request's reads are measured, and the model applies the instances' cache (scale-model.ts).
  const stack = await startLocalStack({ port: 0, host: '127.0.0.1', dataDir, fresh: false, runtime: { ...liftedRateLimits, channelCacheSeconds: 0 } });
  try {
    const table = localTableName(mainTable);
    const unwatched = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: stack.dynamodbEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }));
    const meter = new CapacityMeter(table, unwatched);
    meter.watch(stack.dynamo);
    const releases = stack.functions.get('releases')?.deps as ReleasesDeps;
    const deps = { ...releases, upload: s3Uploader(stack.s3, releases.bucket) };
    const signer = await tufSigner(dataDir, 'targets');
    for (const version of ['1.0.0', '1.1.0']) await publishInProcess(deps, signer, { product: PRODUCT, version, files: { 'main.sig': `signatures ${version}` } }, localAdminArn);
    await promote(deps.store, { product: PRODUCT, channel: 'stable', version: '1.0.0', percent: 100 }, localAdminArn, new Date());

    // One license of 30% of the agents, seven of 10%.
    const store = new LicensingStore(stack.dynamo, table);
    const shares = [0.3, ...Array.from({ length: 7 }, () => 0.1)];
    const licenses = await Promise.all(shares.map(async (share, i) => ({ share, ...(await createLicense(store, { customer: `bench-${i}`, products: [PRODUCT], seats: Math.ceil(AGENTS * share) + 1, expires: '2099-12-31' }, 'bench', new Date())) })));
    const licenseOf = (i: number) => {
      let below = 0;
      for (const license of licenses) {
        below += license.share;
        if (i < Math.round(below * AGENTS)) return license;
      }
      return licenses[licenses.length - 1];
    };
    const handler = (id: string) => stack.functions.get(id)?.handler as unknown as Handler;
    const [agents, manifest, reports] = [handler('agents'), handler('manifest'), handler('reports')];
    const seconds = new Map<string, number>();
    const timed = async <T>(pattern: string, actor: string, work: () => Promise<T>): Promise<T> => {
      const started = process.hrtime.bigint();
      try {
        return await meter.run(pattern, actor, work);
      } finally {
        seconds.set(pattern, (seconds.get(pattern) ?? 0) + Number(process.hrtime.bigint() - started) / 1e9);
      }
    };

    const indexes = Array.from({ length: AGENTS }, (_, i) => i);
    const registered = await mapLimit(indexes, CONCURRENCY, async (i) => {
      const registration = { licenseKey: licenseOf(i)?.licenseKey, machineId: `bench-${i}`, product: PRODUCT, os: 'linux', arch: 'x64' };
      return timed('registration', `agent-${i}`, () => call(agents, post('/v1/agents', registration), [201]));
    });
    const tokens = registered.map((r) => String(r.token));
    // Set-up, not metered: every agent on 1.0.0, then 1.1.0 rolled out to all.
    await mapLimit(tokens, CONCURRENCY, (token) => call(reports, post('/v1/reports', { product: PRODUCT, installedVersion: '1.0.0', result: 'ok' }, token), [202]));
    // Polls are CDN hits and touch nothing: an agent's last API call was the previous
    // release's, hours ago, so its manifest now touches its last-seen (older than LAST_SEEN_RESOLUTION_MS).
    await mapLimit(
      registered,
      CONCURRENCY,
      (r) =>
        unwatched.send(
          new UpdateCommand({ TableName: table, Key: agentKey(String(r.agentId)), UpdateExpression: 'SET lastSeenAt = :then', ExpressionAttributeValues: { ':then': new Date(Date.now() - 2 * LAST_SEEN_RESOLUTION_MS).toISOString() } }),
        ),
    );
    await promote(deps.store, { product: PRODUCT, channel: 'stable', version: '1.1.0', percent: 100 }, localAdminArn, new Date());
    await mapLimit(indexes, CONCURRENCY, async (i) => {
      const token = tokens[i] ?? '';
      await timed('manifest', `agent-${i}`, () => call(manifest, post('/v1/manifest', { product: PRODUCT }, token), [200]));
      await timed('report', `agent-${i}`, () => call(reports, post('/v1/reports', { product: PRODUCT, installedVersion: '1.1.0', result: 'ok' }, token), [202]));
    });
    for (const [pattern, total] of seconds) seconds.set(pattern, total / (meter.requests.get(pattern) ?? 1));
    return { meter, seconds };
  } finally {
    await stack.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Each pattern's mean units per request, rounded to hundredths. */
function unitsPerRequest(meter: CapacityMeter): Record<string, { readUnits: number; writeUnits: number }> {
  const round = (n: number) => Math.round(n * 100) / 100;
  return Object.fromEntries(
    [...meter.requests].map(([pattern, requests]) => {
      const usages = [...meter.usage.values()].filter((u) => u.pattern === pattern);
      const mean = (f: (u: (typeof usages)[number]) => number) => round(usages.reduce((s, u) => s + f(u), 0) / requests);
      return [pattern, { readUnits: mean((u) => u.readUnits), writeUnits: mean((u) => u.writeUnits) }];
    }),
  );
}

function printPerRequest(meter: CapacityMeter, seconds: Map<string, number>): void {
  console.log(`\n### Per request, measured (${AGENTS} agents, DynamoDB Local's ConsumedCapacity)\n`);
  console.log('| pattern | requests | RCU / request | WCU / request | handler ms / request |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const [pattern, units] of Object.entries(unitsPerRequest(meter))) {
    console.log(`| ${pattern} | ${meter.requests.get(pattern)} | ${fmt(units.readUnits, 2)} | ${fmt(units.writeUnits, 2)} | ${fmt((seconds.get(pattern) ?? 0) * 1000, 1)} |`);
  }
}

/** With BENCH_SCALE_WRITE=1: the measured units become the cost model's and the synth's (lib/cost/measured.ts). */
async function writeMeasured(meter: CapacityMeter): Promise<void> {
  if (process.env.BENCH_SCALE_WRITE !== '1') return;
  const file = fileURLToPath(new URL('../../lib/cost/measured.ts', import.meta.url));
  const body = `/**
 * DynamoDB units per request, measured by \`BENCH_SCALE_WRITE=1 npm run bench -- scale\`
 * (bench/suites/scale.ts, ${AGENTS} agents; docs/scale.md): written by it, not by hand.
 * The cost model (lib/cost/model.ts) and the synth's quota check (cdk/quotas.ts) price
 * requests with these.
 */
export const measuredUnits = ${JSON.stringify({ measuredAt: new Date().toISOString().slice(0, 10), agents: AGENTS, perRequest: unitsPerRequest(meter) }, null, 2)} as const;
`;
  await writeFile(file, body);
  console.log(`\nwrote ${file}`);
}

/** The records function instances keep, as lib/releases/store.ts releaseRecordsPolicy keeps them at the default channelCacheSeconds; instances from the measured handler time. */
function instanceCache(seconds: Map<string, number>): InstanceCache {
  const policy = releaseRecordsPolicy(defaultRuntimeSettings().channelCacheSeconds * 1000);
  return {
    ttlSeconds: (key) => {
      const ms = policy({ pk: key }, {});
      return ms === undefined ? undefined : ms / 1000;
    },
    instances: (pattern, fleet) => (arrivalRates(fleet)[pattern] ?? 0) * (seconds.get(pattern) ?? 0),
  };
}

function printFleet(meter: CapacityMeter, seconds: Map<string, number>, fleet: FleetShape): Figure[] {
  const rates = arrivalRates(fleet);
  const cache = instanceCache(seconds);
  const loads = keyLoads(meter, fleet, cache);
  const label = `${fmt(fleet.agents / 1e6)} M agents`;
  console.log(`\n### ${label}, polling every ${fleet.pollSeconds} s: the release-day peak\n`);
  console.log(`Arrivals: ${Object.entries(rates).map(([p, r]) => `${p} ${fmt(r)}/s`).join(', ')}.\n`);
  console.log('| partition key | index | patterns | RCU/s | WCU/s | of its limit | |');
  console.log('| --- | --- | --- | ---: | ---: | ---: | --- |');
  const shown = new Set<string>();
  for (const load of loads) {
    const shape = `${load.index}|${keyShape(load.key)}`;
    if (shown.has(shape) || shown.size >= 8) continue;
    shown.add(shape);
    const missed = load.share > TARGET_SHARE ? 'TARGET MISSED' : '';
    console.log(`| \`${keyShape(load.key)}\` | ${load.index} | ${load.patterns.join(', ')} | ${fmt(load.readUnits)} | ${fmt(load.writeUnits)} | ${fmt(load.share * 100)}% | ${missed} |`);
  }
  const total = tableLoad(meter, fleet, cache);
  const api = Object.values(rates).reduce((a, b) => a + b, 0);
  const concurrency = Object.entries(rates).reduce((sum, [pattern, rate]) => sum + rate * (seconds.get(pattern) ?? 0), 0);
  const busiest = loads[0];
  const figures: Figure[] = [
    ...(busiest
      ? [{ name: `${label}: busiest partition key (${keyShape(busiest.key)}, ${busiest.index}), share of its limit`, value: busiest.share, baseline: 1, unit: '', baselineName: 'the partition limit', higherIsBetter: false, target: `<= ${TARGET_SHARE}x` }]
      : []),
    { name: `${label}: table read units/s`, value: total.readUnits, baseline: QUOTAS.tableReadUnits, unit: 'RCU/s', baselineName: 'default table quota', higherIsBetter: false, target: '<= 1x' },
    { name: `${label}: table write units/s`, value: total.writeUnits, baseline: QUOTAS.tableWriteUnits, unit: 'WCU/s', baselineName: 'default table quota', higherIsBetter: false, target: '<= 1x' },
    { name: `${label}: API requests/s`, value: api, baseline: QUOTAS.apiRequests, unit: 'req/s', baselineName: 'API Gateway account rate', higherIsBetter: false, target: '<= 1x' },
    { name: `${label}: Lambda concurrency (in-process handler time: an upper bound)`, value: concurrency, baseline: QUOTAS.lambdaConcurrency, unit: '', baselineName: 'account concurrency', higherIsBetter: false, target: '<= 1x' },
  ];
  return figures;
}

export const scaleSuite: Suite = {
  name: 'capacity at fleet scale (release day)',
  async run(): Promise<Figure[]> {
    const { meter, seconds } = await simulate();
    printPerRequest(meter, seconds);
    await writeMeasured(meter);
    const figures = FLEETS.flatMap((fleet) => printFleet(meter, seconds, fleet));
    console.log(`\nPartition limits: ${fmt(PARTITION_LIMITS.readUnits)} RCU/s and ${fmt(PARTITION_LIMITS.writeUnits)} WCU/s per key; target at most ${TARGET_SHARE * 100}%.`);
    return figures;
  },
};
