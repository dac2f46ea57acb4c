/**
 * Paginated lists for the admin API: one DynamoDB query per page, and an opaque cursor
 * (the query's LastEvaluatedKey, base64url JSON) to ask for the next. The operator
 * console pages through licenses, seat holders, the blacklist and the audit trail this
 * way, so a fleet of 100,000 agents costs a page, never the whole list.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod/mini';
import { InvalidRequest } from '#lib/errors.ts';
import type { Item } from './table.ts';
import { withoutKeys } from './table.ts';

export interface Page<T> {
  readonly items: T[];
  /** Pass as `cursor` for the next page; absent on the last one. */
  readonly nextCursor?: string;
}

/** The largest page a caller may ask for (`signet audit` shows a day's 200 newest), and the default. */
export const MAX_PAGE_SIZE = 200;
export const DEFAULT_PAGE_SIZE = 50;

const KEY_ATTRIBUTES = ['pk', 'sk', 'gsi1pk', 'gsi1sk'] as const;

export function encodeCursor(lastKey: Record<string, unknown> | undefined): string | undefined {
  return lastKey ? Buffer.from(JSON.stringify(lastKey)).toString('base64url') : undefined;
}

/**
 * The key a cursor carries, refused (400, field `cursor`) unless it is one this API
 * made for the same list: only key attributes, all strings, and the list's own
 * partition. Without that check a cursor of another list would reach DynamoDB and fail
 * there as a 500, or read another partition's items.
 */
export function decodeCursor(cursor: string, partition: { readonly name: 'pk' | 'gsi1pk'; readonly value: string }): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidRequest('cursor', 'is not a cursor this API made');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new InvalidRequest('cursor', 'is not a cursor this API made');
  const entries = Object.entries(parsed);
  const wellFormed = entries.length > 0 && entries.every(([name, value]) => (KEY_ATTRIBUTES as readonly string[]).includes(name) && typeof value === 'string');
  if (!wellFormed) throw new InvalidRequest('cursor', 'is not a cursor this API made');
  const key = Object.fromEntries(entries) as Record<string, string>;
  if (key[partition.name] !== partition.value) throw new InvalidRequest('cursor', 'belongs to another list');
  return key;
}

/** The query string of a list route: `limit` and `cursor`, nothing else. */
export const pageQuery = z.strictObject({ limit: z.optional(z.string()), cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))) });

/** A page size from a query string: 1 to MAX_PAGE_SIZE, `fallback` when absent. */
export function pageSize(text: string | undefined, fallback = DEFAULT_PAGE_SIZE): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > MAX_PAGE_SIZE) throw new InvalidRequest('limit', `must be a whole number from 1 to ${MAX_PAGE_SIZE}`);
  return n;
}

/** One page of a partition (of the table, or of gsi1), in sort-key order or its reverse, keys stripped. */
export async function queryPage<T>(
  db: DynamoDBDocumentClient,
  table: string,
  input: { index?: 'gsi1'; partition: string; newestFirst: boolean; limit: number; cursor?: string },
): Promise<Page<T>> {
  const name = input.index ? 'gsi1pk' : 'pk';
  const start = input.cursor === undefined ? undefined : decodeCursor(input.cursor, { name, value: input.partition });
  const result = await db.send(
    new QueryCommand({
      TableName: table,
      ...(input.index && { IndexName: input.index }),
      KeyConditionExpression: `${name} = :pk`,
      ExpressionAttributeValues: { ':pk': input.partition },
      ScanIndexForward: !input.newestFirst,
      Limit: input.limit,
      ...(start && { ExclusiveStartKey: start }),
    }),
  );
  const nextCursor = encodeCursor(result.LastEvaluatedKey);
  return { items: (result.Items ?? []).map((item: Item) => withoutKeys<T>(item) as T), ...(nextCursor && { nextCursor }) };
}
