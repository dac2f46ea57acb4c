/**
 * Fleet reports: each agent's last report, and counters per product and version (agents
 * on it now, ok and failed reports). A rollout whose new version fails too often halts
 * itself. All pure but the store; see docs/data-model.md for the keys.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Item } from '#lib/aws/table.ts';
import type { TransactItem } from '#lib/aws/table.ts';
import { transactOrLose, withoutKeys } from '#lib/aws/table.ts';
import { agentKey, relayedAgentKey, relayedSlotIndexKeys, relayedSlotIndexPartition, relayedSlotsKey } from '#lib/licensing/keys.ts';
import { versionSortKey } from '#lib/releases/versions.ts';

/**
 * A version's counters count agents, not report events: an agent counts once, by its last
 * report. So a report sent again (a retry after an answer was lost) changes nothing, and
 * the failure rate a rollout halts on is the share of its agents that failed.
 */
export interface VersionCounters {
  readonly version: string;
  /** Agents whose last report says they run this version. */
  readonly agents: number;
  /** Of those, agents whose last report was `ok`. */
  readonly ok: number;
  /** Of those, agents whose last report was `failed`. */
  readonly failed: number;
  /**
   * When the counters last changed: an agent's report moved it to this version or changed
   * its result (ISO 8601). A report that changes nothing leaves the counters unwritten.
   */
  readonly lastReportAt?: string;
}

/** An agent's last report as its item holds it: the version it runs and how installing it went. */
export interface LastReport {
  readonly version: string;
  readonly result: 'ok' | 'failed';
}

function countersOf(item: Record<string, unknown>): VersionCounters {
  const lastReportAt = typeof item.lastReportAt === 'string' ? item.lastReportAt : undefined;
  return { version: String(item.version), agents: Number(item.agents ?? 0), ok: Number(item.ok ?? 0), failed: Number(item.failed ?? 0), ...(lastReportAt && { lastReportAt }) };
}

/** Silent holders looked at per reclaim: the index may still list a few whose slot was just freed. */
const RECLAIM_CANDIDATES = 5;

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
  /** When the service last recorded one of its reports: how long it has been silent, by the service's clock. */
  readonly relayedAt: string;
  /** Whether it holds one of its mirror's slots (its reports count); not, before its first report, or once a silent agent's slot was reclaimed. */
  readonly holdsSlot: boolean;
}

export interface RelayedRecord {
  /** The mirror whose agent it is (the origin of the reports, whoever relayed them). */
  readonly mirrorId: string;
  readonly licenseId: string;
  readonly agentId: string;
  readonly product: string;
  /** The last report the caller read in the agent's item (undefined: no item yet). */
  readonly previous: LastReport | undefined;
  /** Whether the agent held a slot when the caller read its item: if not, the report takes one, or is refused as `full`. */
  readonly holdsSlot: boolean;
  /** The mirror's seats: at most this many of its agents hold a slot per product. */
  readonly seats: number;
  readonly version: string;
  readonly result: 'ok' | 'failed';
  readonly detail?: string;
  /** The report's own time, `Date#toISOString()` form. */
  readonly at: string;
  readonly now: Date;
}

/** `recorded`; `stale` (the agent's item holds a report at or after this one); `full` (the agent holds no slot and the mirror's are all taken); `lost` (a racing write moved first: read again and retry). */
export type RelayedOutcome = 'recorded' | 'stale' | 'full' | 'lost';

function relayedAgentOf(item: Item | undefined): RelayedAgent | undefined {
  const rest = withoutKeys<Omit<RelayedAgent, 'holdsSlot'>>(item);
  return rest && { ...rest, holdsSlot: typeof item?.gsi1pk === 'string' };
}

/** What one agent's move from its last report to a new one adds to each version's counters. */
export interface CounterDelta {
  readonly version: string;
  readonly add: Partial<Record<'agents' | 'ok' | 'failed', number>>;
}

/** The counter changes of an agent's report over its last one: exact whatever repeats (the same report twice adds nothing). */
export function counterDeltas(previous: LastReport | undefined, next: LastReport): CounterDelta[] {
  if (previous?.version === next.version) {
    return previous.result === next.result ? [] : [{ version: next.version, add: { [next.result]: 1, [previous.result]: -1 } }];
  }
  return [
    { version: next.version, add: { agents: 1, [next.result]: 1 } },
    ...(previous ? [{ version: previous.version, add: { agents: -1, [previous.result]: -1 } }] : []),
  ];
}

export class FleetStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /**
   * Records a report: the agent's last report, and the counters it changes, in one
   * transaction (one plain update when it changes none: the same report again). The
   * agent's last report moves only from the one the caller read, so a count never drifts
   * when two reports of one agent race. False if it lost such a race, or the transaction
   * met another on a counter.
   */
  async record(input: { agentId: string; product: string; previous: LastReport | undefined; version: string; result: 'ok' | 'failed'; detail?: string; now: Date }): Promise<boolean> {
    const { agentId, product, previous, version, result, detail, now } = input;
    return transactOrLose(this.db, [
      {
        Update: {
          TableName: this.table,
          Key: agentKey(agentId),
          UpdateExpression: `SET installedVersion = :version, lastResult = :result, lastReportAt = :now${detail ? ', lastDetail = :detail' : ' REMOVE lastDetail'}`,
          ConditionExpression: previous === undefined ? 'attribute_exists(pk) AND attribute_not_exists(lastResult)' : 'installedVersion = :previous AND lastResult = :previousResult',
          ExpressionAttributeValues: {
            ':version': version,
            ':result': result,
            ':now': now.toISOString(),
            ...(detail && { ':detail': detail }),
            ...(previous && { ':previous': previous.version, ':previousResult': previous.result }),
          },
        },
      },
      ...this.counterUpdates(product, previous, { version, result }, now),
    ]);
  }

  /**
   * Records a report a mirror relayed for one of its agents: like `record`, with the
   * agent's last report in its own item under the mirror (the agent has no record
   * upstream), written only over the version the caller read and only if the report is
   * newer than the one kept there, so the same report relayed twice counts once.
   *
   * Only `seats` of a mirror's agents count per product: an agent's first counted report
   * takes a slot (the mirror's slot count moves in the same transaction, only while below
   * `seats`), and its later ones count as long as it holds it. Holders sit in a sparse gsi1
   * partition by when they were last relayed, so a silent one's slot can be reclaimed
   * (`reclaimRelayedSlot`). Reports of more agents than that are `full`: a mirror, or a
   * file carried out of an isolated segment, weighs as the agents its seats allow, and no more.
   */
  async recordRelayed(input: RelayedRecord): Promise<RelayedOutcome> {
    const { mirrorId, licenseId, agentId, product, previous, holdsSlot, seats, version, result, detail, at, now } = input;
    const key = relayedAgentKey(mirrorId, product, agentId);
    const index = relayedSlotIndexKeys(mirrorId, product, now.toISOString(), agentId);
    const condition =
      previous === undefined
        ? 'attribute_not_exists(pk)'
        : `installedVersion = :previous AND lastResult = :previousResult AND lastReportAt < :at AND ${holdsSlot ? 'gsi1pk = :gsi1pk' : 'attribute_not_exists(gsi1pk)'}`;
    const recorded = await transactOrLose(this.db, [
      {
        Update: {
          TableName: this.table,
          Key: key,
          UpdateExpression:
            'SET mirrorId = :mirror, licenseId = :license, agentId = :agent, product = :product, installedVersion = :version, lastResult = :result, lastReportAt = :at, relayedAt = :now, gsi1pk = :gsi1pk, gsi1sk = :gsi1sk' +
            (detail ? ', lastDetail = :detail' : ' REMOVE lastDetail'),
          ConditionExpression: condition,
          ExpressionAttributeValues: {
            ':mirror': mirrorId,
            ':license': licenseId,
            ':agent': agentId,
            ':product': product,
            ':version': version,
            ':result': result,
            ':at': at,
            ':now': now.toISOString(),
            ':gsi1pk': index.gsi1pk,
            ':gsi1sk': index.gsi1sk,
            ...(detail && { ':detail': detail }),
            ...(previous && { ':previous': previous.version, ':previousResult': previous.result }),
          },
        },
      },
      ...(holdsSlot
        ? []
        : [
            {
              Update: {
                TableName: this.table,
                Key: relayedSlotsKey(mirrorId, product),
                UpdateExpression: 'SET mirrorId = :mirror, product = :product ADD holders :one',
                ConditionExpression: 'attribute_not_exists(holders) OR holders < :seats',
                ExpressionAttributeValues: { ':mirror': mirrorId, ':product': product, ':one': 1, ':seats': seats },
              },
            },
          ]),
      ...this.counterUpdates(product, previous, { version, result }, now),
    ]);
    if (recorded) return 'recorded';
    const current = await this.relayedAgent(mirrorId, product, agentId);
    if (current && current.lastReportAt >= at) return 'stale';
    if (!holdsSlot && !current?.holdsSlot && (await this.relayedSlotsTaken(mirrorId, product)) >= seats) return 'full';
    return 'lost';
  }

  /** The last report relayed for a mirror's agent and product, strongly consistent. */
  async relayedAgent(mirrorId: string, product: string, agentId: string): Promise<RelayedAgent | undefined> {
    const result = await this.db.send(new GetCommand({ TableName: this.table, Key: relayedAgentKey(mirrorId, product, agentId), ConsistentRead: true }));
    return relayedAgentOf(result.Item);
  }

  /** How many of a mirror's relayed agents of `product` hold a slot, strongly consistent. */
  async relayedSlotsTaken(mirrorId: string, product: string): Promise<number> {
    const result = await this.db.send(new GetCommand({ TableName: this.table, Key: relayedSlotsKey(mirrorId, product), ConsistentRead: true }));
    return Number(result.Item?.holders ?? 0);
  }

  /**
   * Frees the slot of the mirror's least recently relayed agent of `product`, if nothing
   * was relayed for it since `silentBefore` (as a silent agent's seat is reclaimed at the
   * mirror). The agent's item stays, so a report of it relayed again still counts once;
   * a later report of it takes a slot again. True if a slot was freed.
   */
  async reclaimRelayedSlot(mirrorId: string, product: string, silentBefore: string, now: Date): Promise<boolean> {
    const result = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': relayedSlotIndexPartition(mirrorId, product) },
        ScanIndexForward: true,
        Limit: RECLAIM_CANDIDATES,
      }),
    );
    for (const item of result.Items ?? []) {
      // The index may lag the table: the transaction's condition is checked on the item itself.
      if (typeof item.gsi1sk !== 'string' || typeof item.agentId !== 'string' || !(item.gsi1sk < silentBefore)) return false;
      const freed = await transactOrLose(this.db, [
        {
          Update: {
            TableName: this.table,
            Key: relayedAgentKey(mirrorId, product, item.agentId),
            UpdateExpression: 'SET slotReclaimedAt = :now REMOVE gsi1pk, gsi1sk',
            ConditionExpression: 'gsi1sk = :sk',
            ExpressionAttributeValues: { ':sk': item.gsi1sk, ':now': now.toISOString() },
          },
        },
        {
          Update: {
            TableName: this.table,
            Key: relayedSlotsKey(mirrorId, product),
            UpdateExpression: 'ADD holders :minus',
            ConditionExpression: 'holders > :zero',
            ExpressionAttributeValues: { ':minus': -1, ':zero': 0 },
          },
        },
      ]);
      if (freed) return true;
    }
    return false;
  }

  /**
   * A report's counter updates, from the agent's last report to this one: none when both
   * say the same (a report sent again); else the agent leaves its old version and result
   * and joins the new ones.
   */
  private counterUpdates(product: string, previous: LastReport | undefined, next: LastReport, now: Date): TransactItem[] {
    return counterDeltas(previous, next).map((delta) => ({
      Update: {
        TableName: this.table,
        Key: fleetKey(product, delta.version),
        UpdateExpression: `SET version = :version, lastReportAt = :now ADD ${Object.keys(delta.add)
          .map((name) => `${name} :${name}`)
          .join(', ')}`,
        ExpressionAttributeValues: { ':version': delta.version, ':now': now.toISOString(), ...Object.fromEntries(Object.entries(delta.add).map(([name, by]) => [`:${name}`, by])) },
      },
    }));
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
