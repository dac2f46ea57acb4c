/**
 * Fleet reports: each agent's last report, and counters per product and version (agents
 * on it now, ok and failed reports). A rollout whose new version fails too often halts
 * itself. All pure but the store; see docs/data-model.md for the keys.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { agentKey } from '#lib/licensing/keys.ts';
import { versionSortKey } from '#lib/releases/versions.ts';

export interface VersionCounters {
  readonly version: string;
  /** Agents whose last report says they run this version. */
  readonly agents: number;
  readonly ok: number;
  readonly failed: number;
}

export const fleetKey = (product: string, version: string) => ({ pk: `FLEET#${product}`, sk: `V#${versionSortKey(version)}` });

export interface HaltPolicy {
  /** Share of failed reports for the rollout's version that halts it. */
  readonly failureRate: number;
  /** Reports needed before the rate means anything. */
  readonly minReports: number;
}

export function shouldHalt(counters: Pick<VersionCounters, 'ok' | 'failed'>, policy: HaltPolicy): boolean {
  const total = counters.ok + counters.failed;
  return total >= policy.minReports && counters.failed / total >= policy.failureRate;
}

export class FleetStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /**
   * Records a report: the agent's last report, and the counters, in one transaction.
   * The agent's version moves only from the one the caller read, so a count never
   * drifts when two reports of one agent race. False if it lost such a race.
   */
  async record(input: { agentId: string; product: string; previousVersion: string | undefined; version: string; result: 'ok' | 'failed'; detail?: string; now: Date }): Promise<boolean> {
    const { agentId, product, previousVersion, version, result, detail, now } = input;
    const moved = previousVersion !== version;
    const items = [
      {
        Update: {
          TableName: this.table,
          Key: agentKey(agentId),
          UpdateExpression: `SET installedVersion = :version, lastResult = :result, lastReportAt = :now${detail ? ', lastDetail = :detail' : ' REMOVE lastDetail'}`,
          ConditionExpression: previousVersion === undefined ? 'attribute_exists(pk) AND attribute_not_exists(installedVersion)' : 'installedVersion = :previous',
          ExpressionAttributeValues: { ':version': version, ':result': result, ':now': now.toISOString(), ...(detail && { ':detail': detail }), ...(previousVersion !== undefined && { ':previous': previousVersion }) },
        },
      },
      {
        Update: {
          TableName: this.table,
          Key: fleetKey(product, version),
          UpdateExpression: `SET version = :version ADD ${result === 'ok' ? 'ok' : 'failed'} :one${moved ? ', agents :one' : ''}`,
          ExpressionAttributeValues: { ':version': version, ':one': 1 },
        },
      },
      ...(moved && previousVersion !== undefined
        ? [{ Update: { TableName: this.table, Key: fleetKey(product, previousVersion), UpdateExpression: 'ADD agents :minus', ExpressionAttributeValues: { ':minus': -1 } } }]
        : []),
    ];
    try {
      await this.db.send(new TransactWriteCommand({ TransactItems: items }));
      return true;
    } catch (error) {
      if ((error as { name?: string }).name === 'TransactionCanceledException') return false;
      throw error;
    }
  }

  async counters(product: string, version: string): Promise<VersionCounters | undefined> {
    const result = await this.db.send(new GetCommand({ TableName: this.table, Key: fleetKey(product, version), ConsistentRead: true }));
    const item = result.Item;
    return item ? { version, agents: Number(item.agents ?? 0), ok: Number(item.ok ?? 0), failed: Number(item.failed ?? 0) } : undefined;
  }

  async versions(product: string): Promise<VersionCounters[]> {
    const result = await this.db.send(
      new QueryCommand({ TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `FLEET#${product}` }, ScanIndexForward: false }),
    );
    return (result.Items ?? []).map((i) => ({ version: String(i.version), agents: Number(i.agents ?? 0), ok: Number(i.ok ?? 0), failed: Number(i.failed ?? 0) }));
  }
}
