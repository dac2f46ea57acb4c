/**
 * The licensing records in DynamoDB. Every change that touches the seat count happens
 * in one TransactWriteItems with the agent it concerns, under conditions that re-check
 * what the caller read, so the count equals the number of active agents under any
 * concurrency. Reads that decide access are strongly consistent: a revocation takes
 * effect on the very next call.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Agent, AgentStatus, BlacklistEntry, License, LicenseStatus, MirrorRecord } from './model.ts';
import type { AuditEntry } from '#lib/audit.ts';
import { auditPut } from '#lib/audit.ts';
import type { Item, Key, TransactItem, TransactionOutcome } from '#lib/aws/table.ts';
import { getMany, itemId, transact, withoutKeys } from '#lib/aws/table.ts';
import type { Page } from '#lib/aws/pages.ts';
import { queryPage } from '#lib/aws/pages.ts';
import { agentKey, BLACKLIST_PARTITION, blacklistIndexKeys, blacklistKey, LICENSES_PARTITION, licenseIndexKeys, licenseKey, mirrorIndexKeys, mirrorIndexPartition, mirrorKey, seatIndexKeys, seatIndexPartition } from './keys.ts';

export type { AuditEntry, Key, TransactionOutcome };

const strip = withoutKeys;

export class LicensingStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /**
   * The agent, its license and the machine's blacklist entry, in one round trip, plus
   * any `extra` items the caller needs for the same request (the manifest's channel).
   */
  async readAccess(ids: { licenseId: string; agentId: string; machineHash: string }, extra: readonly Key[] = []): Promise<{
    license?: License;
    agent?: Agent;
    blacklisted: boolean;
    extra: ReadonlyArray<Item | undefined>;
  }> {
    const keys = [licenseKey(ids.licenseId), agentKey(ids.agentId), blacklistKey(ids.machineHash)];
    const items = await getMany(this.db, this.table, [...keys, ...extra]);
    const get = (k: Key) => items.get(itemId(k));
    return {
      license: strip<License>(get(keys[0] as Key)),
      agent: strip<Agent>(get(keys[1] as Key)),
      blacklisted: get(keys[2] as Key) !== undefined,
      extra: extra.map(get),
    };
  }

  async getLicense(licenseId: string): Promise<License | undefined> {
    const result = await this.db.send(new GetCommand({ TableName: this.table, Key: licenseKey(licenseId), ConsistentRead: true }));
    return strip<License>(result.Item);
  }

  async getAgent(agentId: string): Promise<Agent | undefined> {
    const result = await this.db.send(new GetCommand({ TableName: this.table, Key: agentKey(agentId), ConsistentRead: true }));
    return strip<Agent>(result.Item);
  }

  private transact(items: TransactItem[]): Promise<TransactionOutcome> {
    return transact(this.db, items);
  }

  /** Conditions under which a license may hand out a seat for `product` (any, for a mirror) at `now`. */
  private licenseServes(product: string | undefined, now: Date) {
    return {
      condition: `#status = :active AND #expiresAt > :now${product === undefined ? '' : ' AND contains(#products, :product)'} AND #keyHash = :keyHash`,
      names: { '#status': 'status', '#expiresAt': 'expiresAt', ...(product !== undefined && { '#products': 'products' }), '#keyHash': 'keyHash' },
      values: { ':active': 'active', ':now': now.toISOString(), ...(product !== undefined && { ':product': product }) },
    };
  }

  /**
   * A new seat: the license's count goes up (only below its seats), the agent becomes
   * active (only from the status the caller read), and the machine is checked against
   * the blacklist, all at once. Item order: 0 license, 1 agent, 2 blacklist.
   */
  async takeSeat(input: { agent: Agent; previousStatus: AgentStatus | undefined; keyHash: string; now: Date }): Promise<TransactionOutcome> {
    const { agent, previousStatus, keyHash, now } = input;
    const serves = this.licenseServes(agent.product, now);
    return this.transact([
      {
        Update: {
          TableName: this.table,
          Key: licenseKey(agent.licenseId),
          UpdateExpression: 'SET #seatsUsed = #seatsUsed + :one, #updatedAt = :nowIso',
          ConditionExpression: `${serves.condition} AND #seatsUsed < #seats`,
          ExpressionAttributeNames: { ...serves.names, '#seatsUsed': 'seatsUsed', '#seats': 'seats', '#updatedAt': 'updatedAt' },
          ExpressionAttributeValues: { ...serves.values, ':keyHash': keyHash, ':one': 1, ':nowIso': now.toISOString() },
        },
      },
      {
        Put: {
          TableName: this.table,
          Item: { ...agentKey(agent.agentId), ...seatIndexKeys(agent.licenseId, agent.lastSeenAt, agent.agentId), ...agent },
          ConditionExpression: previousStatus === undefined ? 'attribute_not_exists(pk)' : '#status = :previous',
          ...(previousStatus !== undefined && {
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':previous': previousStatus },
          }),
        },
      },
      {
        ConditionCheck: {
          TableName: this.table,
          Key: blacklistKey(agent.machineHash),
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
    ]);
  }

  /**
   * The same machine again: a new token for the agent that already holds the seat, no
   * seat taken. Item order: 0 license, 1 agent, 2 blacklist.
   */
  async rotateToken(input: { agent: Agent; previousTokenHash: string; keyHash: string; now: Date }): Promise<TransactionOutcome> {
    const { agent, previousTokenHash, keyHash, now } = input;
    const serves = this.licenseServes(agent.product, now);
    return this.transact([
      {
        ConditionCheck: {
          TableName: this.table,
          Key: licenseKey(agent.licenseId),
          ConditionExpression: serves.condition,
          ExpressionAttributeNames: serves.names,
          ExpressionAttributeValues: { ...serves.values, ':keyHash': keyHash },
        },
      },
      {
        Put: {
          TableName: this.table,
          Item: { ...agentKey(agent.agentId), ...seatIndexKeys(agent.licenseId, agent.lastSeenAt, agent.agentId), ...agent },
          // Only over the token the caller read: of two racing re-registrations, one wins.
          ConditionExpression: '#status = :active AND #tokenHash = :previous',
          ExpressionAttributeNames: { '#status': 'status', '#tokenHash': 'tokenHash' },
          ExpressionAttributeValues: { ':active': 'active', ':previous': previousTokenHash },
        },
      },
      {
        ConditionCheck: {
          TableName: this.table,
          Key: blacklistKey(agent.machineHash),
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
    ]);
  }

  /**
   * Gives an active agent's seat back: the agent leaves the seat index and becomes
   * revoked or reclaimed; the count goes down. `silentBefore` makes it a reclaim that
   * only happens if the agent has still not been seen since then.
   */
  async releaseSeat(input: { agentId: string; licenseId: string; status: Extract<AgentStatus, 'revoked' | 'reclaimed'>; now: Date; silentBefore?: string; audit: AuditEntry }): Promise<TransactionOutcome> {
    const { agentId, licenseId, status, now, silentBefore, audit } = input;
    return this.transact([
      {
        Update: {
          TableName: this.table,
          Key: agentKey(agentId),
          UpdateExpression: 'SET #status = :status, #releasedAt = :now REMOVE gsi1pk, gsi1sk',
          ConditionExpression: `#status = :active${silentBefore ? ' AND #lastSeenAt < :silentBefore' : ''}`,
          ExpressionAttributeNames: { '#status': 'status', '#releasedAt': 'releasedAt', ...(silentBefore && { '#lastSeenAt': 'lastSeenAt' }) },
          ExpressionAttributeValues: { ':status': status, ':active': 'active', ':now': now.toISOString(), ...(silentBefore && { ':silentBefore': silentBefore }) },
        },
      },
      {
        Update: {
          TableName: this.table,
          Key: licenseKey(licenseId),
          UpdateExpression: 'SET #seatsUsed = #seatsUsed - :one, #updatedAt = :now',
          ConditionExpression: '#seatsUsed > :zero',
          ExpressionAttributeNames: { '#seatsUsed': 'seatsUsed', '#updatedAt': 'updatedAt' },
          ExpressionAttributeValues: { ':one': 1, ':zero': 0, ':now': now.toISOString() },
        },
      },
      auditPut(this.table, audit, now),
    ]);
  }

  /**
   * Lifts an operator's revocation: the agent goes from revoked to unrevoked (still no
   * seat, its token still void), so its computer may register again. Only from revoked.
   */
  async unrevokeAgent(input: { agentId: string; now: Date; audit: AuditEntry }): Promise<TransactionOutcome> {
    const { agentId, now, audit } = input;
    return this.transact([
      {
        Update: {
          TableName: this.table,
          Key: agentKey(agentId),
          UpdateExpression: 'SET #status = :unrevoked, #unrevokedAt = :now',
          ConditionExpression: '#status = :revoked',
          ExpressionAttributeNames: { '#status': 'status', '#unrevokedAt': 'unrevokedAt' },
          ExpressionAttributeValues: { ':unrevoked': 'unrevoked', ':revoked': 'revoked', ':now': now.toISOString() },
        },
      },
      auditPut(this.table, audit, now),
    ]);
  }

  /** The license's seat holders, least recently seen first. */
  async seatHolders(licenseId: string, limit: number): Promise<Agent[]> {
    return this.firstInIndex<Agent>(seatIndexPartition(licenseId), limit);
  }

  /** A page of the license's seat holders, least recently seen first (the operator console's list). */
  async seatHolderPage(licenseId: string, limit: number, cursor?: string): Promise<Page<Agent>> {
    return queryPage<Agent>(this.db, this.table, { index: 'gsi1', partition: seatIndexPartition(licenseId), newestFirst: false, limit, ...(cursor !== undefined && { cursor }) });
  }

  /** A page of the licenses, newest first (those created since the index keys were added: see keys.ts). */
  async licensePage(limit: number, cursor?: string): Promise<Page<License>> {
    return queryPage<License>(this.db, this.table, { index: 'gsi1', partition: LICENSES_PARTITION, newestFirst: true, limit, ...(cursor !== undefined && { cursor }) });
  }

  /** A page of the blacklist entries, in machine-hash order (eventually consistent, like `blacklistedMachines`). */
  async blacklistPage(limit: number, cursor?: string): Promise<Page<BlacklistEntry>> {
    return queryPage<BlacklistEntry>(this.db, this.table, { index: 'gsi1', partition: BLACKLIST_PARTITION, newestFirst: false, limit, ...(cursor !== undefined && { cursor }) });
  }

  /** The first `limit` records of a gsi1 partition, in sort-key order. */
  private async firstInIndex<T>(partition: string, limit: number): Promise<T[]> {
    const result = await this.db.send(
      new QueryCommand({ TableName: this.table, IndexName: 'gsi1', KeyConditionExpression: 'gsi1pk = :pk', ExpressionAttributeValues: { ':pk': partition }, ScanIndexForward: true, Limit: limit }),
    );
    return (result.Items ?? []).map((item) => strip<T>(item) as T);
  }

  /** Moves an active agent's last-seen time (and its place in the seat index) forward. */
  async touch(agent: Agent, now: Date): Promise<void> {
    const at = now.toISOString();
    await this.db
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: agentKey(agent.agentId),
          UpdateExpression: 'SET #lastSeenAt = :at, gsi1sk = :sk',
          ConditionExpression: '#status = :active AND #lastSeenAt < :at',
          ExpressionAttributeNames: { '#lastSeenAt': 'lastSeenAt', '#status': 'status' },
          ExpressionAttributeValues: { ':at': at, ':active': 'active', ':sk': seatIndexKeys(agent.licenseId, at, agent.agentId).gsi1sk },
        }),
      )
      .catch((error: unknown) => {
        // Revoked or touched by a concurrent call in the meantime: nothing to do.
        if ((error as { name?: string }).name !== 'ConditionalCheckFailedException') throw error;
      });
  }

  /** A license and a mirror record, in one strongly consistent round trip. */
  async readMirror(licenseId: string, mirrorId: string): Promise<{ license?: License; mirror?: MirrorRecord }> {
    const keys = [licenseKey(licenseId), mirrorKey(mirrorId)] as const;
    const items = await getMany(this.db, this.table, keys);
    return { license: strip<License>(items.get(itemId(keys[0]))), mirror: strip<MirrorRecord>(items.get(itemId(keys[1]))) };
  }

  /**
   * Gives a mirror `next.seats` seats: the license's count moves by the difference and the
   * mirror record is written, in one transaction. The license must serve (active,
   * unexpired, the key's hash), and may never go over its seats: the condition bounds the
   * count read-free (`seatsUsed <= seats - delta`, the seats as read, since an expression
   * cannot add); the record is written only over the revision read (or only if absent), so
   * a mirror id is taken by one license. Item order: 0 license, 1 mirror, 2 audit (if any).
   */
  async assignMirrorSeats(input: { next: MirrorRecord; previous: MirrorRecord | undefined; licenseSeats: number; keyHash: string; now: Date; audit?: AuditEntry }): Promise<TransactionOutcome> {
    const { next, previous, licenseSeats, keyHash, now, audit } = input;
    const delta = next.seats - (previous?.seats ?? 0);
    const serves = this.licenseServes(undefined, now);
    const names = { ...serves.names, '#seatsUsed': 'seatsUsed', ...(delta > 0 && { '#seats': 'seats' }), '#updatedAt': 'updatedAt' };
    const license: TransactItem =
      delta === 0
        ? { ConditionCheck: { TableName: this.table, Key: licenseKey(next.licenseId), ConditionExpression: serves.condition, ExpressionAttributeNames: serves.names, ExpressionAttributeValues: { ...serves.values, ':keyHash': keyHash } } }
        : {
            Update: {
              TableName: this.table,
              Key: licenseKey(next.licenseId),
              UpdateExpression: 'SET #seatsUsed = #seatsUsed + :delta, #updatedAt = :nowIso',
              ConditionExpression: delta > 0 ? `${serves.condition} AND #seats = :seats AND #seatsUsed <= :bound` : `${serves.condition} AND #seatsUsed >= :bound`,
              ExpressionAttributeNames: names,
              ExpressionAttributeValues: {
                ...serves.values,
                ':keyHash': keyHash,
                ':delta': delta,
                ':nowIso': now.toISOString(),
                ...(delta > 0 ? { ':seats': licenseSeats, ':bound': licenseSeats - delta } : { ':bound': -delta }),
              },
            },
          };
    return this.transact([
      license,
      {
        Put: {
          TableName: this.table,
          Item: { ...mirrorKey(next.mirrorId), ...(next.seats > 0 && mirrorIndexKeys(next.licenseId, next.leaseExpiresAt, next.mirrorId)), ...next },
          ConditionExpression: previous === undefined ? 'attribute_not_exists(pk)' : '#licenseId = :licenseId AND #revision = :revision',
          ...(previous !== undefined && {
            ExpressionAttributeNames: { '#licenseId': 'licenseId', '#revision': 'revision' },
            ExpressionAttributeValues: { ':licenseId': previous.licenseId, ':revision': previous.revision },
          }),
        },
      },
      ...(audit ? [auditPut(this.table, audit, now)] : []),
    ]);
  }

  /** The license's mirrors that hold seats, the one whose lease ended longest ago first. */
  async mirrorsHoldingSeats(licenseId: string, limit: number): Promise<MirrorRecord[]> {
    return this.firstInIndex<MirrorRecord>(mirrorIndexPartition(licenseId), limit);
  }

  /**
   * Takes back every seat of a mirror whose lease ended before `expiredBefore`, if it still
   * holds the seats and revision read: the record goes to 0 seats (and leaves the index),
   * the license's count goes down by them. Item order: 0 mirror, 1 license, 2 audit.
   */
  async reclaimMirrorSeats(input: { mirror: MirrorRecord; expiredBefore: string; now: Date; audit: AuditEntry }): Promise<TransactionOutcome> {
    const { mirror, expiredBefore, now, audit } = input;
    return this.transact([
      {
        Update: {
          TableName: this.table,
          Key: mirrorKey(mirror.mirrorId),
          UpdateExpression: 'SET #seats = :zero, #reclaimedAt = :now, #revision = #revision + :one REMOVE gsi1pk, gsi1sk',
          ConditionExpression: '#revision = :revision AND #seats = :seats AND #leaseExpiresAt < :before',
          ExpressionAttributeNames: { '#seats': 'seats', '#reclaimedAt': 'reclaimedAt', '#revision': 'revision', '#leaseExpiresAt': 'leaseExpiresAt' },
          ExpressionAttributeValues: { ':zero': 0, ':one': 1, ':now': now.toISOString(), ':revision': mirror.revision, ':seats': mirror.seats, ':before': expiredBefore },
        },
      },
      {
        Update: {
          TableName: this.table,
          Key: licenseKey(mirror.licenseId),
          UpdateExpression: 'SET #seatsUsed = #seatsUsed - :seats, #updatedAt = :now',
          ConditionExpression: '#seatsUsed >= :seats',
          ExpressionAttributeNames: { '#seatsUsed': 'seatsUsed', '#updatedAt': 'updatedAt' },
          ExpressionAttributeValues: { ':seats': mirror.seats, ':now': now.toISOString() },
        },
      },
      auditPut(this.table, audit, now),
    ]);
  }

  async createLicense(license: License, audit: AuditEntry, now: Date): Promise<TransactionOutcome> {
    return this.transact([
      { Put: { TableName: this.table, Item: { ...licenseKey(license.licenseId), ...licenseIndexKeys(license.createdAt, license.licenseId), ...license }, ConditionExpression: 'attribute_not_exists(pk)' } },
      auditPut(this.table, audit, now),
    ]);
  }

  async setLicenseStatus(input: { licenseId: string; from: readonly LicenseStatus[]; to: LicenseStatus; now: Date; audit: AuditEntry }): Promise<TransactionOutcome> {
    const { licenseId, from, to, now, audit } = input;
    const fromValues = Object.fromEntries(from.map((s, i) => [`:from${i}`, s]));
    return this.transact([
      {
        Update: {
          TableName: this.table,
          Key: licenseKey(licenseId),
          UpdateExpression: 'SET #status = :to, #updatedAt = :now',
          ConditionExpression: `attribute_exists(pk) AND #status IN (${Object.keys(fromValues).join(', ')})`,
          ExpressionAttributeNames: { '#status': 'status', '#updatedAt': 'updatedAt' },
          ExpressionAttributeValues: { ':to': to, ':now': now.toISOString(), ...fromValues },
        },
      },
      auditPut(this.table, audit, now),
    ]);
  }

  async addToBlacklist(entry: BlacklistEntry, audit: AuditEntry, now: Date): Promise<TransactionOutcome> {
    return this.transact([
      { Put: { TableName: this.table, Item: { ...blacklistKey(entry.machineHash), ...blacklistIndexKeys(entry.machineHash), ...entry } } },
      auditPut(this.table, audit, now),
    ]);
  }

  /**
   * The machine hashes of every blacklist entry that carries the index keys (all written
   * since they were added), in hash order: one query, paginated. The index is eventually
   * consistent: an entry added a moment ago may be missing for a moment.
   */
  async blacklistedMachines(): Promise<string[]> {
    const hashes: string[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const result = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: 'gsi1',
          KeyConditionExpression: 'gsi1pk = :pk',
          ExpressionAttributeValues: { ':pk': BLACKLIST_PARTITION },
          ProjectionExpression: 'machineHash',
          ...(start && { ExclusiveStartKey: start }),
        }),
      );
      for (const item of result.Items ?? []) if (typeof item.machineHash === 'string') hashes.push(item.machineHash);
      start = result.LastEvaluatedKey;
    } while (start);
    return hashes;
  }

  async removeFromBlacklist(machineHash: string, audit: AuditEntry, now: Date): Promise<TransactionOutcome> {
    return this.transact([
      { Delete: { TableName: this.table, Key: blacklistKey(machineHash), ConditionExpression: 'attribute_exists(pk)' } },
      auditPut(this.table, audit, now),
    ]);
  }
}
