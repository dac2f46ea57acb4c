/**
 * Fleet reports: each agent's last report, and counters per product and version (agents
 * on it now, ok and failed reports). A rollout whose new version fails too often halts
 * itself. All pure but the store; see docs/data-model.md for the keys.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { TransactItem } from '#lib/aws/table.ts';
import { transactOrLose, withoutKeys } from '#lib/aws/table.ts';
import { agentKey, relayedAgentKey } from '#lib/licensing/keys.ts';
import { versionSortKey } from '#lib/releases/versions.ts';

export interface VersionCounters {
  readonly version: string;
  /** Agents whose last report says they run this version. */
  readonly agents: number;
  readonly ok: number;
  readonly failed: number;
  /**
   * When the service last recorded a report naming this version (ISO 8601): how recently
   * agents on it were heard from, without listing them (absent on counters written
   * before it was kept).
   */
  readonly lastReportAt?: string;
}

function countersOf(item: Record<string, unknown>): VersionCounters {
  const lastReportAt = typeof item.lastReportAt === 'string' ? item.lastReportAt : undefined;
  return { version: String(item.version), agents: Number(item.agents ?? 0), ok: Number(item.ok ?? 0), failed: Number(item.failed ?? 0), ...(lastReportAt && { lastReportAt }) };
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

/** What a mirror relays about one of its agents, as kept upstream (the agent's last relayed report). */
export interface RelayedAgent {
  readonly mirrorId: string;
  readonly licenseId: string;
  readonly agentId: string;
  readonly product: string;
  readonly installedVersion: string;
  readonly lastResult: 'ok' | 'failed';
  readonly lastDetail?: string;
  /** When the agent reported, by the mirror's account (ISO 8601, UTC, milliseconds: compared as text). */
  readonly lastReportAt: string;
  /** When the service recorded it. */
  readonly relayedAt: string;
}

export interface RelayedRecord {
  readonly mirrorId: string;
  readonly licenseId: string;
  readonly agentId: string;
  readonly product: string;
  /** The version the caller read in the agent's item (undefined: no item yet). */
  readonly previousVersion: string | undefined;
  readonly version: string;
  readonly result: 'ok' | 'failed';
  readonly detail?: string;
  /** The report's own time, `Date#toISOString()` form. */
  readonly at: string;
  readonly now: Date;
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
    return transactOrLose(this.db, [
      {
        Update: {
          TableName: this.table,
          Key: agentKey(agentId),
          UpdateExpression: `SET installedVersion = :version, lastResult = :result, lastReportAt = :now${detail ? ', lastDetail = :detail' : ' REMOVE lastDetail'}`,
          ConditionExpression: previousVersion === undefined ? 'attribute_exists(pk) AND attribute_not_exists(installedVersion)' : 'installedVersion = :previous',
          ExpressionAttributeValues: { ':version': version, ':result': result, ':now': now.toISOString(), ...(detail && { ':detail': detail }), ...(previousVersion !== undefined && { ':previous': previousVersion }) },
        },
      },
      ...this.counterUpdates(product, previousVersion, version, result, now),
    ]);
  }

  /**
   * Records a report a mirror relayed for one of its agents: like `record`, with the
   * agent's last report in its own item under the mirror (the agent has no record
   * upstream), written only over the version the caller read and only if the report is
   * newer than the one kept there, so the same report relayed twice counts once.
   * `recorded`; `stale` (the item already holds a report at or after `at`); or `lost` (a
   * racing relay of the same agent moved it first: read again and retry).
   */
  async recordRelayed(input: RelayedRecord): Promise<'recorded' | 'stale' | 'lost'> {
    const { mirrorId, licenseId, agentId, product, previousVersion, version, result, detail, at, now } = input;
    const key = relayedAgentKey(mirrorId, product, agentId);
    const recorded = await transactOrLose(this.db, [
      {
        Update: {
          TableName: this.table,
          Key: key,
          UpdateExpression:
            'SET mirrorId = :mirror, licenseId = :license, agentId = :agent, product = :product, installedVersion = :version, lastResult = :result, lastReportAt = :at, relayedAt = :now' +
            (detail ? ', lastDetail = :detail' : ' REMOVE lastDetail'),
          ConditionExpression: previousVersion === undefined ? 'attribute_not_exists(pk)' : 'installedVersion = :previous AND lastReportAt < :at',
          ExpressionAttributeValues: {
            ':mirror': mirrorId,
            ':license': licenseId,
            ':agent': agentId,
            ':product': product,
            ':version': version,
            ':result': result,
            ':at': at,
            ':now': now.toISOString(),
            ...(detail && { ':detail': detail }),
            ...(previousVersion !== undefined && { ':previous': previousVersion }),
          },
        },
      },
      ...this.counterUpdates(product, previousVersion, version, result, now),
    ]);
    if (recorded) return 'recorded';
    const current = await this.relayedAgent(mirrorId, product, agentId);
    return current && current.lastReportAt >= at ? 'stale' : 'lost';
  }

  /** The last report relayed for a mirror's agent and product, strongly consistent. */
  async relayedAgent(mirrorId: string, product: string, agentId: string): Promise<RelayedAgent | undefined> {
    const result = await this.db.send(new GetCommand({ TableName: this.table, Key: relayedAgentKey(mirrorId, product, agentId), ConsistentRead: true }));
    return withoutKeys<RelayedAgent>(result.Item);
  }

  /** A report's counter updates: one more ok or failed on `version`; the agent moves there from `previousVersion`. */
  private counterUpdates(product: string, previousVersion: string | undefined, version: string, result: 'ok' | 'failed', now: Date): TransactItem[] {
    const moved = previousVersion !== version;
    return [
      {
        Update: {
          TableName: this.table,
          Key: fleetKey(product, version),
          UpdateExpression: `SET version = :version, lastReportAt = :now ADD ${result === 'ok' ? 'ok' : 'failed'} :one${moved ? ', agents :one' : ''}`,
          ExpressionAttributeValues: { ':version': version, ':one': 1, ':now': now.toISOString() },
        },
      },
      ...(moved && previousVersion !== undefined
        ? [{ Update: { TableName: this.table, Key: fleetKey(product, previousVersion), UpdateExpression: 'ADD agents :minus', ExpressionAttributeValues: { ':minus': -1 } } }]
        : []),
    ];
  }

  async counters(product: string, version: string): Promise<VersionCounters | undefined> {
    const result = await this.db.send(new GetCommand({ TableName: this.table, Key: fleetKey(product, version), ConsistentRead: true }));
    return result.Item ? { ...countersOf(result.Item), version } : undefined;
  }

  async versions(product: string): Promise<VersionCounters[]> {
    const result = await this.db.send(
      new QueryCommand({ TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `FLEET#${product}` }, ScanIndexForward: false }),
    );
    return (result.Items ?? []).map(countersOf);
  }
}
