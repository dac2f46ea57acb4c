/**
 * The licensing records in DynamoDB. Every change that touches the seat count happens
 * in one TransactWriteItems with the agent it concerns, under conditions that re-check
 * what the caller read, so the count equals the number of active agents under any
 * concurrency. Reads that decide access are strongly consistent: a revocation takes
 * effect on the very next call.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Agent, AgentStatus, BlacklistEntry, License, LicenseStatus } from './model.ts';
import type { AuditEntry } from '#lib/audit.ts';
import { auditPut } from '#lib/audit.ts';
import type { Item, Key, TransactItem, TransactionOutcome } from '#lib/aws/table.ts';
import { getMany, itemId, transact, withoutKeys } from '#lib/aws/table.ts';
import { agentKey, BLACKLIST_PARTITION, blacklistIndexKeys, blacklistKey, licenseKey, seatIndexKeys, seatIndexPartition } from './keys.ts';

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

  /** Conditions under which a license may hand out a seat for `product` at `now`. */
  private licenseServes(product: string, now: Date) {
    return {
      condition: '#status = :active AND #expiresAt > :now AND contains(#products, :product) AND #keyHash = :keyHash',
      names: { '#status': 'status', '#expiresAt': 'expiresAt', '#products': 'products', '#keyHash': 'keyHash' },
      values: { ':active': 'active', ':now': now.toISOString(), ':product': product },
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
    const result = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': seatIndexPartition(licenseId) },
        ScanIndexForward: true,
        Limit: limit,
      }),
    );
    return (result.Items ?? []).map((item) => strip<Agent>(item) as Agent);
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

  async createLicense(license: License, audit: AuditEntry, now: Date): Promise<TransactionOutcome> {
    return this.transact([
      { Put: { TableName: this.table, Item: { ...licenseKey(license.licenseId), ...license }, ConditionExpression: 'attribute_not_exists(pk)' } },
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
