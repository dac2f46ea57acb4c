/**
 * Repository state, releases and channels in the main table (docs/data-model.md).
 * The repository state item is the commit point of a publish: whoever moves its
 * `revision` on first wins; the other re-reads and tries again.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { AuditEntry } from '#lib/audit.ts';
import { auditPartition, auditPut } from '#lib/audit.ts';
import type { Item, TransactItem } from '#lib/aws/table.ts';
import { transactOrLose, withoutKeys } from '#lib/aws/table.ts';
import type { Page } from '#lib/aws/pages.ts';
import { queryPage } from '#lib/aws/pages.ts';
import { versionSortKey } from './versions.ts';

export interface RepositoryState {
  readonly rootVersion: number;
  readonly targetsVersion: number;
  readonly snapshotVersion: number;
  readonly timestampVersion: number;
  readonly revision: number;
  readonly updatedAt: string;
  /**
   * The committed targets and snapshot metadata, written under unique keys before the
   * commit point and copied to their final names after it. Until the copy, readers find
   * them here; the timestamp refresh finishes a copy a crash interrupted.
   */
  readonly staged?: { readonly targets?: string; readonly snapshot: string };
}

export interface Release {
  readonly product: string;
  readonly version: string;
  readonly setManifestPath: string;
  readonly setManifestSha256: string;
  readonly targetsVersion: number;
  readonly files: number;
  readonly publishedAt: string;
  readonly publishedBy: string;
}

export type ChannelStatus = 'active' | 'halted';

export interface Channel {
  readonly product: string;
  readonly channel: string;
  /** The version being rolled out. */
  readonly version: string;
  /** Share of agents (0-100) that get `version`; the rest keep `previousVersion`. */
  readonly percent: number;
  readonly previousVersion?: string;
  /**
   * The set manifests' target paths, kept here so serving a manifest needs no release
   * lookup (absent on channels written before they were added: look the release up).
   */
  readonly setManifest?: string;
  readonly previousSetManifest?: string;
  readonly status: ChannelStatus;
  readonly revision: number;
  readonly updatedAt: string;
  readonly updatedBy: string;
}

export const repoStateKey = { pk: 'REPO', sk: 'STATE' };
export const releaseKey = (product: string, version: string) => ({ pk: `RELEASE#${product}`, sk: `V#${versionSortKey(version)}` });
export const channelKey = (product: string, channel: string) => ({ pk: `CHANNEL#${product}`, sk: `CHANNEL#${channel}` });

/**
 * How long a function instance may keep the release records it reads with an agent's
 * authentication (lib/licensing/cached-extras.ts): a channel `channelMs` (absent or not:
 * a promotion or a halt reaches that instance at most that late); a release that exists
 * for good, since a release never changes once published; one that does not, not at all.
 */
export function releaseRecordsPolicy(channelMs: number): (key: { pk: string }, item: unknown) => number | undefined {
  return (key, item) => {
    if (key.pk.startsWith('CHANNEL#')) return channelMs > 0 ? channelMs : undefined;
    if (key.pk.startsWith('RELEASE#')) return item === undefined ? undefined : Infinity;
    return undefined;
  };
}
/**
 * The products ever published, one item each in one partition, put with every release
 * (a put over the same item: idempotent), so the operator console lists them in one
 * query. Products whose last release predates it are missing until their next release.
 */
export const PRODUCTS_PARTITION = 'PRODUCTS';
export const productKey = (product: string) => ({ pk: PRODUCTS_PARTITION, sk: `P#${product}` });

const strip = withoutKeys;

/** A channel or a release read with other items (the agent's authentication): how to find it, how to read it. */
export interface StoredRecord<T> {
  readonly key: { readonly pk: string; readonly sk: string };
  decode(item: Item | undefined): T | undefined;
}

export const channelRecord = (product: string, channel: string): StoredRecord<Channel> => ({ key: channelKey(product, channel), decode: (item) => strip<Channel>(item) });
export const releaseRecord = (product: string, version: string): StoredRecord<Release> => ({ key: releaseKey(product, version), decode: (item) => strip<Release>(item) });

export class ReleaseStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async repositoryState(): Promise<RepositoryState | undefined> {
    const result = await this.db.send(new GetCommand({ TableName: this.table, Key: repoStateKey, ConsistentRead: true }));
    return strip<RepositoryState>(result.Item);
  }

  async release(product: string, version: string): Promise<Release | undefined> {
    const result = await this.db.send(new GetCommand({ TableName: this.table, Key: releaseKey(product, version), ConsistentRead: true }));
    return strip<Release>(result.Item);
  }

  async latestRelease(product: string): Promise<Release | undefined> {
    const result = await this.db.send(
      new QueryCommand({ TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `RELEASE#${product}` }, ScanIndexForward: false, Limit: 1, ConsistentRead: true }),
    );
    return strip<Release>(result.Items?.[0]);
  }

  async channel(product: string, channel: string): Promise<Channel | undefined> {
    const result = await this.db.send(new GetCommand({ TableName: this.table, Key: channelKey(product, channel), ConsistentRead: true }));
    return strip<Channel>(result.Item);
  }

  /**
   * Moves the repository state from `expected` (undefined: the first ever) to `next`,
   * with the release (if any) and the audit entry, all or nothing. False if another
   * writer moved the state first or the release exists already.
   */
  async commit(input: { expected: RepositoryState | undefined; next: RepositoryState; release?: Release; audit?: AuditEntry; now: Date }): Promise<boolean> {
    const { expected, next, release, audit, now } = input;
    const items: TransactItem[] = [
      {
        Put: {
          TableName: this.table,
          Item: { ...repoStateKey, ...next },
          ConditionExpression: expected ? '#revision = :revision' : 'attribute_not_exists(pk)',
          ...(expected && { ExpressionAttributeNames: { '#revision': 'revision' }, ExpressionAttributeValues: { ':revision': expected.revision } }),
        },
      },
    ];
    if (release) {
      items.push({ Put: { TableName: this.table, Item: { ...releaseKey(release.product, release.version), ...release }, ConditionExpression: 'attribute_not_exists(pk)' } });
      items.push({ Put: { TableName: this.table, Item: { ...productKey(release.product), product: release.product } } });
    }
    if (audit) items.push(auditPut(this.table, audit, now));
    return transactOrLose(this.db, items);
  }

  async channels(product: string): Promise<Channel[]> {
    const result = await this.db.send(
      new QueryCommand({ TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `CHANNEL#${product}` }, ConsistentRead: true }),
    );
    return (result.Items ?? []).map((item) => strip<Channel>(item) as Channel);
  }

  /** Writes a channel only over the revision the caller read (undefined: a new channel). */
  async putChannel(next: Channel, expectedRevision: number | undefined, audit: AuditEntry, now: Date): Promise<boolean> {
    return transactOrLose(this.db, [
      {
        Put: {
          TableName: this.table,
          Item: { ...channelKey(next.product, next.channel), ...next },
          ConditionExpression: expectedRevision === undefined ? 'attribute_not_exists(pk)' : '#revision = :revision',
          ...(expectedRevision !== undefined && { ExpressionAttributeNames: { '#revision': 'revision' }, ExpressionAttributeValues: { ':revision': expectedRevision } }),
        },
      },
      auditPut(this.table, audit, now),
    ]);
  }

  /** Every product published since the product list was kept (see PRODUCTS_PARTITION), by name. */
  async products(): Promise<string[]> {
    const names: string[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const result = await this.db.send(
        new QueryCommand({ TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': PRODUCTS_PARTITION }, ...(start && { ExclusiveStartKey: start }) }),
      );
      for (const item of result.Items ?? []) names.push(String(item.product));
      start = result.LastEvaluatedKey;
    } while (start);
    return names;
  }

  /** A page of one UTC day's audit trail, newest first. */
  async auditPage(day: string, limit: number, cursor?: string): Promise<Page<Item>> {
    return queryPage<Item>(this.db, this.table, { partition: auditPartition(day), newestFirst: true, limit, ...(cursor !== undefined && { cursor }) });
  }
}
