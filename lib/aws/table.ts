/**
 * The main table through the DynamoDB document client: the shapes every store shares,
 * and the reads several of them make. Each store owns its own items' keys and decoding.
 */
import type { DynamoDBDocumentClient, TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { BatchGetCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';

export type Key = { readonly pk: string; readonly sk: string };
export type Item = Record<string, unknown>;
export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** The outcome of a conditional transaction, by which of its items refused. */
export type TransactionOutcome = { ok: true } | { ok: false; failed: readonly number[]; conflict: boolean };

/** An item's attributes without the table's key and index attributes: the record it stores. */
export function withoutKeys<T>(item: Item | undefined): T | undefined {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, ttl: _ttl, ...rest } = item;
  return rest as T;
}

/** Strongly consistent BatchGetItem of up to 100 keys, following UnprocessedKeys; by `pk|sk`. */
export async function getMany(db: DynamoDBDocumentClient, table: string, keys: readonly Key[]): Promise<Map<string, Item>> {
  const found = new Map<string, Item>();
  let pending: Key[] = [...keys];
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, Math.random() * 50 * 2 ** Math.min(attempt, 5)));
    if (attempt > 8) throw Object.assign(new Error('BatchGetItem left keys unprocessed'), { name: 'ThrottlingException' });
    const result = await db.send(new BatchGetCommand({ RequestItems: { [table]: { Keys: pending, ConsistentRead: true } } }));
    for (const item of result.Responses?.[table] ?? []) found.set(itemId(item as Key), item);
    pending = (result.UnprocessedKeys?.[table]?.Keys ?? []) as Key[];
  }
  return found;
}

export const itemId = (key: Key) => `${key.pk}|${key.sk}`;

/** Runs a transaction; a refusal by its conditions (or a conflict) is an outcome, anything else throws. */
export async function transact(db: DynamoDBDocumentClient, items: TransactItem[]): Promise<TransactionOutcome> {
  try {
    await db.send(new TransactWriteCommand({ TransactItems: items }));
    return { ok: true };
  } catch (error) {
    if ((error as { name?: string }).name !== 'TransactionCanceledException') throw error;
    const reasons = (error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? [];
    const failed = reasons.flatMap((r, i) => (r.Code === 'ConditionalCheckFailed' ? [i] : []));
    const conflict = reasons.some((r) => r.Code === 'TransactionConflict');
    if (failed.length === 0 && !conflict) throw error;
    return { ok: false, failed, conflict };
  }
}

/** Runs a transaction that races others: true if it went through, false if DynamoDB cancelled it for any reason (the caller reads again and retries). */
export async function transactOrLose(db: DynamoDBDocumentClient, items: TransactItem[]): Promise<boolean> {
  // One update needs no transaction, which would cost it twice the write capacity.
  const only = items.length === 1 ? items[0]?.Update : undefined;
  if (only) {
    try {
      await db.send(new UpdateCommand(only));
      return true;
    } catch (error) {
      if ((error as { name?: string }).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }
  try {
    await db.send(new TransactWriteCommand({ TransactItems: items }));
    return true;
  } catch (error) {
    if ((error as { name?: string }).name === 'TransactionCanceledException') return false;
    throw error;
  }
}
