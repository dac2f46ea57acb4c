/**
 * The licensing paths, in-process against DynamoDB Local: DynamoDB round trips per
 * request (counted by a middleware on the handlers' own client, SDK retries included)
 * and handler time per request with the DynamoDB time taken out. Baseline: the health
 * handler, the thinnest handler through the same middleware (one GetItem).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { localTableName, mainTable } from '#lib/definitions/tables.ts';
import { createLicense } from '#lib/licensing/admin.ts';
import { LicensingStore } from '#lib/licensing/store.ts';
import { toApiGatewayEvent } from '#lib/edge/api-gateway-event.ts';
import { startLocalStack } from '#local/stack.ts';
import type { Figure, Suite } from '../harness.ts';
import { liftedRateLimits } from '../harness.ts';

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<{ statusCode?: number; body?: string }>;

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 300);
const WARMUP = 20;
const context = { awsRequestId: 'bench', getRemainingTimeInMillis: () => 10_000 } as unknown as Context;

function event(method: string, path: string, routeKey: string, body?: unknown, headers: Record<string, string> = {}): APIGatewayProxyEventV2 {
  return toApiGatewayEvent(
    {
      method,
      url: path,
      headers: { host: 'bench', 'content-type': 'application/json', ...headers },
      body: Buffer.from(body === undefined ? '' : JSON.stringify(body)),
      sourceIp: '127.0.0.1',
      receivedAt: new Date(),
    },
    { routeKey, pathParameters: {} },
  );
}

export const licensingSuite: Suite = {
  name: 'licensing paths (in-process handlers, DynamoDB Local)',
  async run(): Promise<Figure[]> {
    const dataDir = await mkdtemp(join(tmpdir(), 'signet-bench-lic-'));
    const stack = await startLocalStack({ port: 0, host: '127.0.0.1', dataDir, fresh: false, runtime: liftedRateLimits });
    try {
      let roundTrips = 0;
      let ioNs = 0n;
      stack.dynamo.middlewareStack.add(
        (next) => async (args) => {
          roundTrips++;
          const started = process.hrtime.bigint();
          try {
            return await next(args);
          } finally {
            ioNs += process.hrtime.bigint() - started;
          }
        },
        { step: 'deserialize', name: 'benchRoundTripCounter' },
      );
      const health = stack.functions.get('health')?.handler as unknown as Handler;
      const agents = stack.functions.get('agents')?.handler as unknown as Handler;
      const { licenseKey } = await createLicense(
        new LicensingStore(stack.dynamo, localTableName(mainTable)),
        { customer: 'bench', products: ['demo-av'], seats: ITERATIONS + WARMUP + 10, expires: '2099-12-31' },
        'bench',
        new Date(),
      );

      /** Runs `make(i)` ITERATIONS times; per request: round trips, and handler time minus DynamoDB time. */
      async function measure(name: string, make: (i: number) => [Handler, APIGatewayProxyEventV2], expectStatus: number) {
        for (let i = 0; i < WARMUP; i++) {
          const [handler, ev] = make(ITERATIONS + i); // distinct inputs, so a warm-up never takes a measured seat
          await handler(ev, context);
        }
        roundTrips = 0;
        ioNs = 0n;
        const started = process.hrtime.bigint();
        for (let i = 0; i < ITERATIONS; i++) {
          const [handler, ev] = make(i);
          const result = await handler(ev, context);
          if (result.statusCode !== expectStatus) throw new Error(`${name}: status ${result.statusCode}: ${result.body}`);
        }
        const totalNs = process.hrtime.bigint() - started;
        return { roundTrips: roundTrips / ITERATIONS, cpuMs: Number(totalNs - ioNs) / 1e6 / ITERATIONS };
      }

      const registration = (machineId: string) => ({ licenseKey, machineId, product: 'demo-av', os: 'linux', arch: 'x64' });
      const baseline = await measure('health', () => [health, event('GET', '/v1/health', 'GET /v1/health')], 200);
      const fresh = await measure('register', (i) => [agents, event('POST', '/v1/agents', 'POST /v1/agents', registration(`bench-${i}`))], 201);
      // The same machines again: each re-registration rotates the token of a seat taken above.
      const again = await measure('re-register', (i) => [agents, event('POST', '/v1/agents', 'POST /v1/agents', registration(`bench-${i % ITERATIONS}`))], 200);
      const token = JSON.parse((await agents(event('POST', '/v1/agents', 'POST /v1/agents', registration('bench-token')), context)).body ?? '{}') as { token: string };
      const check = await measure('token check', () => [agents, event('GET', '/v1/agents/self', 'GET /v1/agents/self', undefined, { authorization: `Bearer ${token.token}` })], 200);

      const base = 'health handler (1 GetItem)';
      return [
        { name: 'register (new seat): DynamoDB round trips / request', value: fresh.roundTrips, baseline: baseline.roundTrips, unit: 'RT', baselineName: base, higherIsBetter: false },
        { name: 're-register (token rotation): round trips / request', value: again.roundTrips, baseline: baseline.roundTrips, unit: 'RT', baselineName: base, higherIsBetter: false },
        { name: 'token check (GET /v1/agents/self): round trips / request', value: check.roundTrips, baseline: baseline.roundTrips, unit: 'RT', baselineName: base, higherIsBetter: false },
        { name: 'register: handler time excluding DynamoDB I/O', value: fresh.cpuMs, baseline: baseline.cpuMs, unit: 'ms', baselineName: base, higherIsBetter: false },
        { name: 'token check: handler time excluding DynamoDB I/O', value: check.cpuMs, baseline: baseline.cpuMs, unit: 'ms', baselineName: base, higherIsBetter: false },
      ];
    } finally {
      await stack.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  },
};
