/**
 * The running local stack against the synthesized cloud templates, directly: the
 * tables DynamoDB Local holds and the routes the local origin serves are those the
 * templates declare. (test/cdk/parity.test.ts checks the templates against
 * lib/definitions; this closes the loop on what actually runs.)
 */
import { DescribeTableCommand, DescribeTimeToLiveCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { localTableName, tables } from '#lib/definitions/tables.ts';
import { localCredentials } from '#local/s3-local.ts';
import type { CfnTemplate, SynthesizedApp } from '#test/cdk/support.ts';
import { resourcesOfType, synthSignet } from '#test/cdk/support.ts';

const { baseUrl, dynamodbEndpoint } = inject('stack');
const db = new DynamoDBClient({ endpoint: dynamodbEndpoint, region: 'us-east-1', credentials: localCredentials });
let synth: SynthesizedApp;
let storage: CfnTemplate;
let api: CfnTemplate;

beforeAll(() => {
  synth = synthSignet();
  const primary = synth.stacks.regions[0];
  if (!primary) throw new Error('no primary region');
  storage = synth.json(primary.storage);
  api = synth.json(primary.api);
});
afterAll(() => {
  synth?.dispose();
  db.destroy();
});

type KeySchema = Array<{ AttributeName?: string; KeyType?: string }>;
const sortedAttributes = (list: Array<{ AttributeName?: string; AttributeType?: string }>) =>
  [...list].map((a) => ({ AttributeName: a.AttributeName, AttributeType: a.AttributeType })).sort((a, b) => String(a.AttributeName).localeCompare(String(b.AttributeName)));

describe('DynamoDB Local holds the tables the storage template declares', () => {
  it.each(tables.map((t) => [t.id, t] as const))('table %s: same keys, attribute types, indexes and TTL', async (id, table) => {
    const declared = resourcesOfType(storage, 'AWS::DynamoDB::GlobalTable').find(([logicalId]) => logicalId.startsWith(id))?.[1].Properties as {
      KeySchema: KeySchema;
      AttributeDefinitions: Array<{ AttributeName: string; AttributeType: string }>;
      GlobalSecondaryIndexes: Array<{ IndexName: string; KeySchema: KeySchema; Projection: { ProjectionType: string } }>;
      TimeToLiveSpecification?: { AttributeName: string; Enabled: boolean };
    };
    const { Table } = await db.send(new DescribeTableCommand({ TableName: localTableName(table) }));
    expect(Table?.KeySchema).toEqual(declared.KeySchema);
    expect(sortedAttributes(Table?.AttributeDefinitions ?? [])).toEqual(sortedAttributes(declared.AttributeDefinitions));
    expect((Table?.GlobalSecondaryIndexes ?? []).map((i) => ({ IndexName: i.IndexName, KeySchema: i.KeySchema, Projection: { ProjectionType: i.Projection?.ProjectionType } }))).toEqual(
      declared.GlobalSecondaryIndexes.map((i) => ({ IndexName: i.IndexName, KeySchema: i.KeySchema, Projection: { ProjectionType: i.Projection.ProjectionType } })),
    );
    const ttl = await db.send(new DescribeTimeToLiveCommand({ TableName: localTableName(table) }));
    expect(ttl.TimeToLiveDescription?.AttributeName).toBe(declared.TimeToLiveSpecification?.AttributeName);
  });
});

describe('the local origin serves the routes the API template declares', () => {
  it('answers every declared route key with its handler, never "no route"', async () => {
    const routeKeys = resourcesOfType(api, 'AWS::ApiGatewayV2::Route').map(([, r]) => (r.Properties as { RouteKey: string }).RouteKey);
    expect(routeKeys.length).toBeGreaterThan(0);
    for (const key of routeKeys) {
      const [method = 'GET', path = '/'] = key.split(' ');
      const concrete = path.replace(/\{[^}]+\}/g, '0123456789abcdef0123456789abcdef');
      const response = await fetch(`${baseUrl}${concrete}`, { method, ...(method !== 'GET' && method !== 'DELETE' && { headers: { 'content-type': 'application/json' }, body: '{}' }) });
      const body = (await response.json().catch(() => ({}))) as { error?: { message?: string } };
      expect(body.error?.message ?? '', key).not.toMatch(/^no route/);
      expect(response.status, key).not.toBe(405);
    }
  });
});
