/**
 * `signet local`: the whole backend on one machine. DynamoDB Local (Java child
 * process), s3rver (in-process) and the origin (this process) that plays CloudFront
 * and API Gateway in front of the real handlers.
 */
import { Agent } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bucketEnvVar, localBucketName } from '#lib/definitions/bucket.ts';
import { functions, routes } from '#lib/definitions/routes.ts';
import { localTableName, tables } from '#lib/definitions/tables.ts';
import { checkJava, ensureTables, startDynamoDbLocal } from './dynamodb-local.ts';
import type { DynamoDbLocal } from './dynamodb-local.ts';
import { LocalStackError } from './errors.ts';
import { writeFileAtomic } from './files.ts';
import { localCredentials, localS3Client, localS3Environment, startS3Local } from './s3-local.ts';
import type { S3Local } from './s3-local.ts';
import type { LambdaHandler } from './origin.ts';
import { createOrigin } from './origin.ts';
import { createEdgeServer } from '#lib/http/edge-server.ts';
import { s3ObjectSource } from '#lib/aws/objects.ts';
import { isProcessAlive } from './process-utils.ts';
import { readAdminCredentials } from './admin-credentials.ts';
import { localRegion } from './region.ts';
import { cdnKeyDir, readLocalCdnKey, watchedKeyGroup } from './cdn-key.ts';
import { deliveryEnv } from '#lib/delivery/config.ts';
import { tufKeyDir } from './tuf-keys.ts';
import { localKeyDirEnv } from '#lib/tuf/online-signers.ts';
import { readDemoFile, updateDemoFile } from './demo.ts';
import { seedSteps } from './seed-steps.ts';
import { runSeedSteps } from './seed.ts';

/** Where a running stack says how to reach its local AWS services (for `signet publish` and tests). */
export const servicesPath = (dataDir: string) => join(dataDir, 'services.json');

export const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));

export interface LocalStackOptions {
  /** 0 picks a free port (tests); the ready line and `baseUrl` carry the real one. */
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  /** Delete the data dir first. */
  readonly fresh: boolean;
  /** One line per request and per notable event; silent when absent. */
  readonly log?: (line: string) => void;
  /** How long an object download may make no progress before its connection is closed (default 30 s, CloudFront's origin read timeout). */
  readonly objectIdleTimeoutMs?: number;
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
  stop(): Promise<void>;
}

/** The lock makes a second stack on the same data dir fail clearly instead of corrupting it. */
async function acquireLock(dataDir: string): Promise<() => Promise<void>> {
  const lockFile = join(dataDir, 'local.lock');
  const holder = Number(await readFile(lockFile, 'utf8').catch(() => ''));
  if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isProcessAlive(holder)) {
    throw new LocalStackError(`another signet local (pid ${holder}) is using ${dataDir}: stop it, or pass --data-dir`);
  }
  await writeFileAtomic(lockFile, String(process.pid));
  return () => rm(lockFile, { force: true });
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

/** Environment the handlers read, as CDK sets it in Lambda, pointed at the local services. */
function handlerEnvironment(dataDir: string, dynamodb: DynamoDbLocal, s3: S3Local): Record<string, string> {
  const env: Record<string, string> = {
    AWS_REGION: localRegion,
    AWS_ACCESS_KEY_ID: localCredentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: localCredentials.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: dynamodb.endpoint,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    ...localS3Environment,
    [bucketEnvVar]: localBucketName,
    [localKeyDirEnv]: tufKeyDir(dataDir),
  };
  for (const table of tables) env[table.envVar] = localTableName(table);
  return env;
}

async function loadHandlers() {
  const loaded = new Map<string, { definition: (typeof functions)[number]; handler: LambdaHandler }>();
  for (const definition of functions) {
    const module = (await import(pathToFileURL(join(repositoryRoot, definition.entry)).href)) as { handler?: LambdaHandler };
    if (typeof module.handler !== 'function') throw new Error(`${definition.entry} exports no handler`);
    loaded.set(definition.id, { definition, handler: module.handler });
  }
  return loaded;
}

/**
 * The local stand-in for EventBridge schedules: each function with `scheduleMinutes`
 * runs once at start (a stack that was down may have an expired timestamp) and then on
 * its interval. `SIGNET_SCHEDULE_SCALE` shrinks the intervals for tests.
 */
function startSchedules(loaded: Awaited<ReturnType<typeof loadHandlers>>, log: (line: string) => void, stops: Array<() => Promise<void>>): void {
  const scale = Number(process.env.SIGNET_SCHEDULE_SCALE ?? 1);
  for (const { definition, handler } of loaded.values()) {
    if (!definition.scheduleMinutes) continue;
    const run = () =>
      handler({ source: 'signet.local.schedule' }, { awsRequestId: `schedule-${Date.now()}` } as never).catch((error: unknown) =>
        log(`scheduled ${definition.id} failed: ${error instanceof Error ? error.message : String(error)}`),
      );
    void run();
    const timer = setInterval(run, definition.scheduleMinutes * 60_000 * scale);
    timer.unref();
    stops.push(async () => clearInterval(timer));
  }
}

/**
 * The handlers are imported once per process and keep what they read at import (clients,
 * table names, signers), as in a Lambda container. So one process runs one local stack
 * in its life: a second would serve with the first one's endpoints and keys. (A start
 * that failed before loading the handlers does not count.)
 */
let startedInThisProcess = false;

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  if (startedInThisProcess) throw new LocalStackError('this process already ran a local stack: its handlers keep that stack\'s endpoints and keys, so start another stack in a new process');
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
  let handle = (_req: IncomingMessage, res: ServerResponse) => {
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
    Object.assign(process.env, handlerEnvironment(dataDir, dynamodb, s3));
    await writeFileAtomic(servicesPath(dataDir), `${JSON.stringify({ s3Endpoint: s3.endpoint, dynamodbEndpoint: dynamodb.endpoint, bucket: localBucketName }, null, 2)}\n`);
    stops.push(() => rm(servicesPath(dataDir), { force: true }));
    await ensureTables(dynamodb.client, tables, localTableName);

    const seeded = await runSeedSteps(seedSteps, { dataDir, baseUrl, log });
    if (await readDemoFile(dataDir)) await updateDemoFile(dataDir, { baseUrl });
    // The manifest's download grants: signed with the newest local CDN key, for this origin.
    const cdnKey = await readLocalCdnKey(dataDir);
    Object.assign(process.env, {
      [deliveryEnv.cdnBaseUrl]: baseUrl,
      [deliveryEnv.keyPairId]: cdnKey.keyPairId,
      [deliveryEnv.privateKeyFile]: join(cdnKeyDir(dataDir), `${cdnKey.keyPairId}.key.pem`),
    });
    const keyDir = cdnKeyDir(dataDir);
    const keyGroup = watchedKeyGroup(keyDir);
    await keyGroup(); // a broken key file fails the start, not the first download
    startedInThisProcess = true;
    const loaded = await loadHandlers();
    // The origin's own S3 client, with no cap on connections: the SDK's default pool of 50
    // let 50 readers that never read hold every download (each keeps its S3 stream open).
    const originS3 = localS3Client(s3.endpoint, new Agent({ keepAlive: true, maxSockets: Infinity }));
    stops.push(async () => originS3.destroy());
    handle = createOrigin({
      routes,
      functions: loaded,
      objects: s3ObjectSource(originS3, localBucketName),
      objectIdleTimeoutMs: options.objectIdleTimeoutMs ?? DEFAULT_OBJECT_IDLE_TIMEOUT_MS,
      keyGroup,
      adminCredentials: await readAdminCredentials(dataDir),
      log,
    });
    stops.push(releaseLock);
    startSchedules(loaded, log, stops);
    return { baseUrl, dataDir, dynamodbEndpoint: dynamodb.endpoint, s3Endpoint: s3.endpoint, bucket: localBucketName, seeded, stop };
  } catch (error) {
    await stop();
    await releaseLock();
    throw error;
  }
}
