/**
 * `signet local`: the whole backend on one machine. DynamoDB Local (Java child
 * process), s3rver (in-process) and the origin (this process) that plays CloudFront
 * and API Gateway in front of the real handlers.
 */
import { Agent } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { dynamoDocumentClient } from '#lib/aws/clients.ts';
import { s3ObjectSource, s3ObjectStore } from '#lib/aws/objects.ts';
import { ReleaseStore } from '#lib/releases/store.ts';
import type { RuntimeSettings } from '#lib/config.ts';
import { defaultRuntimeSettings } from '#lib/config.ts';
import { localBucketName } from '#lib/definitions/bucket.ts';
import { functions, routes } from '#lib/definitions/routes.ts';
import { localTableName, tables } from '#lib/definitions/tables.ts';
import { createEdgeServer } from '#lib/edge/server.ts';
import type { Logger } from '#lib/log.ts';
import { checkJava, ensureTables, startDynamoDbLocal } from './dynamodb-local.ts';
import { LocalStackError } from './errors.ts';
import { writeFileAtomic } from '#lib/files.ts';
import type { BuiltFunction } from './handlers.ts';
import { functionBuilders } from './handlers.ts';
import { localS3Client, startS3Local } from './s3-local.ts';
import { createOrigin, logAccess } from '#lib/edge/origin.ts';
import { isProcessAlive } from './process-utils.ts';
import { readAdminCredentials } from './admin-credentials.ts';
import { localAdminArn, localAdminScope, localRegion } from './region.ts';
import { watchedKeyGroup, cdnKeyDir } from '#lib/cdn/key-files.ts';
import { readDemoFile, updateDemoFile } from './demo.ts';
import { seedSteps } from './seed-steps.ts';
import { runSeedSteps } from './seed.ts';
import type { LocalContext } from './services.ts';
import { localServices } from './services.ts';
import { refuseEarlierLayout } from './layout.ts';

/** Where a running stack says how to reach its local AWS services (for `signet publish` and tests). */
export const servicesPath = (dataDir: string) => join(dataDir, 'services.json');


export interface LocalStackOptions {
  /** 0 picks a free port (tests); the ready line and `baseUrl` carry the real one. */
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  /** Delete the data dir first. */
  readonly fresh: boolean;
  /** One line per request and per notable event; silent when absent. */
  readonly log?: (line: string) => void;
  /** One access-log line per request the origin answers, those answered while starting included (local/origin.ts `logAccess`). */
  readonly accessLog?: (line: string) => void;
  /** How long an object download may make no progress before its connection is closed (default 30 s, CloudFront's origin read timeout). */
  readonly objectIdleTimeoutMs?: number;
  /** The runtime settings (poll interval, grant lifetime, rate limits, ...); the rest keep their defaults (lib/config.ts). */
  readonly runtime?: Partial<RuntimeSettings>;
  /** How often the timestamp refresh runs (default hourly, as in the cloud); it also runs once at start. */
  readonly timestampRefreshSeconds?: number;
  /** Each function's logger; by default Powertools Logger on stdout, as in Lambda. */
  readonly functionLogger?: (functionId: string) => Logger;
}

export const DEFAULT_OBJECT_IDLE_TIMEOUT_MS = 30_000;

export interface LocalStack {
  readonly baseUrl: string;
  readonly dataDir: string;
  readonly dynamodbEndpoint: string;
  readonly s3Endpoint: string;
  readonly bucket: string;
  /** Names of the first-start steps this start ran (empty on a warm start). */
  readonly seeded: readonly string[];
  /** The functions as built for this stack, by id: call a handler in-process, look at its dependencies. */
  readonly functions: ReadonlyMap<string, BuiltFunction>;
  /** The stack's own DynamoDB and S3 clients (the handlers share them). */
  readonly dynamo: DynamoDBDocumentClient;
  readonly s3: S3Client;
  stop(): Promise<void>;
}

/** Data dirs held by stacks of this process (the lock file holds the pid, which two stacks here share). */
const heldHere = new Set<string>();

/** The lock makes a second stack on the same data dir fail clearly instead of corrupting it. */
async function acquireLock(dataDir: string): Promise<() => Promise<void>> {
  const lockFile = join(dataDir, 'local.lock');
  const holder = Number(await readFile(lockFile, 'utf8').catch(() => ''));
  const busy = heldHere.has(dataDir) || (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isProcessAlive(holder));
  if (busy) throw new LocalStackError(`another signet local (pid ${heldHere.has(dataDir) ? process.pid : holder}) is using ${dataDir}: stop it, or pass --data-dir`);
  heldHere.add(dataDir);
  await writeFileAtomic(lockFile, String(process.pid));
  return async () => {
    heldHere.delete(dataDir);
    await rm(lockFile, { force: true });
  };
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        reject(new LocalStackError(`port ${port} on ${host} is already in use: pass --port N or set SIGNET_PORT`));
      } else if (error.code === 'EACCES') {
        reject(new LocalStackError(`no permission to listen on port ${port}: choose a port above 1023 with --port N`));
      } else reject(error);
    });
    server.listen(port, host, () => {
      const address = server.address();
      resolvePort(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/**
 * Every function, built with this stack's services (local/services.ts) by the factory its
 * Lambda entry uses.
 */
async function buildFunctions(context: LocalContext): Promise<Map<string, BuiltFunction>> {
  const built = new Map<string, BuiltFunction>();
  for (const definition of functions) {
    const build = functionBuilders[definition.id];
    if (!build) throw new Error(`local/handlers.ts builds no function ${definition.id}`);
    built.set(definition.id, await build(localServices(definition.id, context)));
  }
  return built;
}

/**
 * The local stand-in for EventBridge schedules: each scheduled function runs once at
 * start (a stack that was down may have an expired timestamp) and then on its interval.
 */
function startSchedules(built: ReadonlyMap<string, BuiltFunction>, everyMs: number, log: (line: string) => void, stops: Array<() => Promise<void>>): void {
  for (const definition of functions) {
    const fn = built.get(definition.id);
    if (!definition.scheduled || !fn) continue;
    const run = () =>
      fn.handler({ source: 'signet.local.schedule' }, { awsRequestId: `schedule-${Date.now()}` } as never).catch((error: unknown) =>
        log(`scheduled ${definition.id} failed: ${error instanceof Error ? error.message : String(error)}`),
      );
    void run();
    const timer = setInterval(run, everyMs);
    timer.unref();
    stops.push(async () => clearInterval(timer));
  }
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const log = options.log ?? (() => undefined);
  const dataDir = isAbsolute(options.dataDir) ? options.dataDir : resolve(options.dataDir);
  checkJava();
  if (options.fresh) {
    await mkdir(dataDir, { recursive: true });
    const release = await acquireLock(dataDir); // never wipe a directory another stack is using
    await release();
    await rm(dataDir, { recursive: true, force: true });
  }
  await mkdir(dataDir, { recursive: true });
  const releaseLock = await acquireLock(dataDir);

  // Bind the port before anything slow, so a taken port fails in milliseconds.
  let handle = (req: IncomingMessage, res: ServerResponse) => {
    if (options.accessLog) logAccess(req, res, options.accessLog);
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
    res.end(JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'signet local is starting' } }));
  };
  const server = createEdgeServer((req, res) => handle(req, res));
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const step of stops.reverse()) await step().catch(() => undefined);
    stops.length = 0;
  };
  try {
    const port = await listen(server, options.port, options.host);
    stops.push(
      () =>
        new Promise<void>((done) => {
          server.close(() => done());
          server.closeAllConnections();
        }),
    );
    const displayHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
    const baseUrl = `http://${displayHost.includes(':') ? `[${displayHost}]` : displayHost}:${port}`;

    const [dynamodb, s3] = await Promise.all([startDynamoDbLocal(dataDir), startS3Local(dataDir, localBucketName)]);
    stops.push(dynamodb.stop, s3.stop);
    await writeFileAtomic(servicesPath(dataDir), `${JSON.stringify({ s3Endpoint: s3.endpoint, dynamodbEndpoint: dynamodb.endpoint, bucket: localBucketName }, null, 2)}\n`);
    stops.push(() => rm(servicesPath(dataDir), { force: true }));
    await ensureTables(dynamodb.client, tables, localTableName);

    // The handlers' clients: the same settings as in Lambda, pointed at the local services.
    // Filled below, after the context the functions are built from (invoke looks here when called).
    const built = new Map<string, BuiltFunction>();
    const dynamo = dynamoDocumentClient({ endpoint: dynamodb.endpoint, region: localRegion, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    stops.push(async () => dynamo.destroy());
    const context: LocalContext = {
      dataDir,
      baseUrl,
      dynamo,
      s3: s3.client,
      settings: { ...defaultRuntimeSettings(), ...options.runtime },
      ...(options.functionLogger && { logger: options.functionLogger }),
      invoke: async (functionId, event) => {
        const fn = built.get(functionId);
        if (!fn) throw new Error(`no local function ${functionId}`);
        await fn.handler(event, { awsRequestId: `invoke-${Date.now()}` } as never);
      },
    };
    const repository = localServices('releases', context);
    await refuseEarlierLayout(new ReleaseStore(dynamo, repository.config.get('mainTable')), s3ObjectStore(s3.client, repository.config.get('bucket')), dataDir);
    const seeded = await runSeedSteps(seedSteps, { dataDir, baseUrl, log, services: (functionId) => localServices(functionId, context) });
    if (await readDemoFile(dataDir)) await updateDemoFile(dataDir, { baseUrl });
    const keyGroup = watchedKeyGroup(cdnKeyDir(dataDir));
    await keyGroup(); // a broken key file fails the start, not the first download
    for (const [id, fn] of await buildFunctions(context)) built.set(id, fn);
    // The origin's own S3 client, with no cap on connections: the SDK's default pool of 50
    // let 50 readers that never read hold every download (each keeps its S3 stream open).
    const originS3 = localS3Client(s3.endpoint, new Agent({ keepAlive: true, maxSockets: Infinity }));
    stops.push(async () => originS3.destroy());
    handle = createOrigin({
      routes,
      functions: new Map(functions.flatMap((definition) => {
        const fn = built.get(definition.id);
        return fn ? [[definition.id, { definition, handler: fn.handler }] as const] : [];
      })),
      objects: s3ObjectSource(originS3, localBucketName),
      objectIdleTimeoutMs: options.objectIdleTimeoutMs ?? DEFAULT_OBJECT_IDLE_TIMEOUT_MS,
      keyGroup,
      admin: { credentials: await readAdminCredentials(dataDir), scope: localAdminScope, arn: localAdminArn },
      log,
      accessLog: options.accessLog,
    });
    stops.push(releaseLock);
    startSchedules(built, (options.timestampRefreshSeconds ?? 3600) * 1000, log, stops);
    return { baseUrl, dataDir, dynamodbEndpoint: dynamodb.endpoint, s3Endpoint: s3.endpoint, bucket: localBucketName, seeded, functions: built, dynamo, s3: s3.client, stop };
  } catch (error) {
    await stop();
    await releaseLock();
    throw error;
  }
}
