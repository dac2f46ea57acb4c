/**
 * The DynamoDB tables, defined once. The CDK storage stack and the local stack both
 * build their tables from these objects, and a test compares them with the synthesized
 * template, so the cloud and `npm start` cannot drift apart.
 *
 * The shapes use DynamoDB's own vocabulary (attribute types `S`/`N`/`B`), not CDK types,
 * so the Lambda code and the local stack can import this file without aws-cdk-lib.
 */

import type { VariableKey } from '#lib/config.ts';

export type AttributeType = 'S' | 'N' | 'B';

export interface KeyAttribute {
  readonly name: string;
  readonly type: AttributeType;
}

export interface GlobalSecondaryIndexDefinition {
  readonly indexName: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  /** Only `ALL` for now: the indexes serve listing queries that need the whole item. */
  readonly projection: 'ALL';
}

export interface TableDefinition {
  /** Stable construct id in CDK and the suffix of the local table name. */
  readonly id: string;
  /** The variable (lib/config.ts) that carries the physical table name to the functions. */
  readonly variable: VariableKey;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  readonly globalSecondaryIndexes: readonly GlobalSecondaryIndexDefinition[];
  /** Attribute holding an epoch-seconds expiry that DynamoDB deletes items by. */
  readonly timeToLiveAttribute?: string;
}

/**
 * One table holds the service's records (licenses, agents, blacklist, releases,
 * channels, audit), keyed by generic `pk`/`sk` so each entity chooses its own key
 * scheme; `gsi1` serves the secondary access patterns. The entity key design is
 * documented in docs/data-model.md as the entities land.
 */
export const mainTable: TableDefinition = {
  id: 'Main',
  variable: 'mainTable',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  globalSecondaryIndexes: [
    {
      indexName: 'gsi1',
      partitionKey: { name: 'gsi1pk', type: 'S' },
      sortKey: { name: 'gsi1sk', type: 'S' },
      projection: 'ALL',
    },
  ],
  timeToLiveAttribute: 'ttl',
};

export const tables: readonly TableDefinition[] = [mainTable];

/** The physical name the local stack gives a table (CloudFormation generates the cloud one). */
export function localTableName(table: TableDefinition): string {
  return `signet-${table.id.toLowerCase()}`;
}
