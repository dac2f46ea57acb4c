/**
 * The capacity meter: every DynamoDB call the handlers make, with the capacity DynamoDB
 * Local says it consumed (`ReturnConsumedCapacity: INDEXES`, added to each call), charged
 * to the partition key it fell on and to the access pattern that made it.
 *
 * DynamoDB Local enforces no partition limit, so no test can see a hot key; what it does
 * report is the capacity of each call, by table and index. That is what is measured here;
 * the scale model (bench/scale-model.ts) multiplies it by a fleet's arrival rates.
 *
 * Attribution: a call on one key is charged to it whole. A call on several (BatchGetItem,
 * TransactWriteItems) is charged to each of its keys evenly, an approximation: DynamoDB
 * reports one figure for the call (the items here are all far below 1 KB but the set
 * manifests, so their units are within one of each other). An index's units go to the
 * index partition (`gsi1pk`) the written item holds after the write, read back with a
 * client the meter does not watch.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';

/** Who is calling: the access pattern and the agent (or other actor) it serves. */
export interface CallContext {
  readonly pattern: string;
  readonly actor: string;
}

/** What one partition key took under one pattern. */
export interface KeyUsage {
  readonly pattern: string;
  /** `table` or the index name. */
  readonly index: string;
  readonly key: string;
  readUnits: number;
  writeUnits: number;
  /** Calls that touched the key. */
  touches: number;
  /** Distinct actors that touched it: 1 for a key of its own, more for a shared one. */
  readonly actors: Set<string>;
}

interface Consumed {
  readonly Table?: { CapacityUnits?: number; ReadCapacityUnits?: number; WriteCapacityUnits?: number };
  readonly GlobalSecondaryIndexes?: Record<string, { CapacityUnits?: number }>;
  readonly CapacityUnits?: number;
}

type Key = { pk: string; sk: string };

const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'TransactWriteItemsCommand', 'BatchWriteItemCommand']);

export class CapacityMeter {
  private readonly context = new AsyncLocalStorage<CallContext>();
  /** By `pattern|index|key`. */
  readonly usage = new Map<string, KeyUsage>();
  /** Requests served per pattern (counted by `run`). */
  readonly requests = new Map<string, number>();
  /** Calls made outside any pattern (set-up): not charged. */
  unattributed = 0;

  constructor(
    private readonly table: string,
    private readonly unwatched: DynamoDBDocumentClient,
  ) {}

  /** Runs one request of `pattern` on behalf of `actor`, charging its calls to them. */
  async run<T>(pattern: string, actor: string, work: () => Promise<T>): Promise<T> {
    this.requests.set(pattern, (this.requests.get(pattern) ?? 0) + 1);
    return this.context.run({ pattern, actor }, work);
  }

  /** Watches every call of `client` (the one the handlers share). */
  watch(client: DynamoDBDocumentClient): void {
    client.middlewareStack.add(
      (next, handlerContext) => async (args) => {
        const input = args.input as Record<string, unknown>;
        const context = this.context.getStore();
        if (!context) {
          this.unattributed++;
          return next(args);
        }
        input.ReturnConsumedCapacity = 'INDEXES';
        const result = await next(args);
        const output = result.output as { ConsumedCapacity?: Consumed | Consumed[] };
        const consumed = ([] as Consumed[]).concat(output.ConsumedCapacity ?? []);
        const command = String(handlerContext.commandName ?? '');
        await this.charge(context, command, input, consumed);
        return result;
      },
      { step: 'initialize', name: 'capacityMeter' },
    );
  }

  private async charge(context: CallContext, command: string, input: Record<string, unknown>, consumed: readonly Consumed[]): Promise<void> {
    const keys = keysOf(command, input);
    if (keys.length === 0) return;
    const write = WRITES.has(command);
    const tableUnits = consumed.reduce((sum, c) => sum + (c.Table?.CapacityUnits ?? c.CapacityUnits ?? 0), 0);
    // A Query of an index consumes the index's units only (below).
    if (!input.IndexName) for (const key of keys) this.add(context, 'table', key.pk, write, tableUnits / keys.length);
    for (const c of consumed) {
      for (const [index, units] of Object.entries(c.GlobalSecondaryIndexes ?? {})) {
        // A Query on an index names its partition; a write's index partition is the item's.
        const partitions = command === 'QueryCommand' ? [String(keys[0]?.pk)] : await this.indexPartitions(keys.filter((k) => k.sk !== '*'));
        for (const partition of partitions) this.add(context, index, partition, write, (units.CapacityUnits ?? 0) / partitions.length);
      }
    }
  }

  /** The index partitions of the written items that are in the index; an item that left it (its gsi1 attributes removed) is charged as such. */
  private async indexPartitions(keys: readonly Key[]): Promise<string[]> {
    const found: string[] = [];
    for (const key of keys) {
      const item = (await this.unwatched.send(new GetCommand({ TableName: this.table, Key: key, ProjectionExpression: 'gsi1pk' }))).Item;
      if (typeof item?.gsi1pk === 'string') found.push(item.gsi1pk);
    }
    return found.length > 0 ? found : ['(left the index)'];
  }

  private add(context: CallContext, index: string, key: string, write: boolean, units: number): void {
    const id = `${context.pattern}|${index}|${key}`;
    let usage = this.usage.get(id);
    if (!usage) {
      usage = { pattern: context.pattern, index, key, readUnits: 0, writeUnits: 0, touches: 0, actors: new Set() };
      this.usage.set(id, usage);
    }
    if (write) usage.writeUnits += units;
    else usage.readUnits += units;
    usage.touches++;
    usage.actors.add(context.actor);
  }
}

/** The keys a call falls on; a Query's is its partition (`sk` `*`), read from its key condition's values. */
function keysOf(command: string, input: Record<string, unknown>): Key[] {
  const key = (k: unknown) => (k && typeof k === 'object' ? [{ pk: String((k as Key).pk), sk: String((k as Key).sk) }] : []);
  switch (command) {
    case 'GetItemCommand':
    case 'UpdateItemCommand':
    case 'DeleteItemCommand':
      return key(input.Key);
    case 'PutItemCommand':
      return key(input.Item);
    case 'QueryCommand': {
      const values = (input.ExpressionAttributeValues ?? {}) as Record<string, unknown>;
      const condition = String(input.KeyConditionExpression ?? '');
      const name = /(\w+)\s*=\s*(:\w+)/.exec(condition);
      return name?.[2] ? [{ pk: String(values[name[2]]), sk: '*' }] : [];
    }
    case 'BatchGetItemCommand':
      return Object.values((input.RequestItems ?? {}) as Record<string, { Keys?: unknown[] }>).flatMap((r) => (r.Keys ?? []).flatMap(key));
    case 'TransactWriteItemsCommand':
      return ((input.TransactItems ?? []) as Array<Record<string, { Key?: unknown; Item?: unknown }>>).flatMap((item) => {
        const op = item.Put ?? item.Update ?? item.Delete ?? item.ConditionCheck;
        return key(op?.Key ?? op?.Item);
      });
    case 'TransactGetItemsCommand':
      return ((input.TransactItems ?? []) as Array<{ Get?: { Key?: unknown } }>).flatMap((item) => key(item.Get?.Key));
    default:
      return [];
  }
}
