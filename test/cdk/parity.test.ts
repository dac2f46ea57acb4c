/**
 * The synthesized templates declare exactly what lib/definitions/* define: the tables
 * (keys, indexes, TTL), the routes (route keys, authorization, target function), and the
 * CloudFront path patterns and bucket-policy prefixes. The local stack builds from the
 * same definitions, so this is what keeps the cloud and `npm start` from drifting apart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiPathPattern, pathSpaces } from '#lib/definitions/bucket.ts';
import { functionById, functions, routeKey, routes } from '#lib/definitions/routes.ts';
import type { AttributeType, KeyAttribute, TableDefinition } from '#lib/definitions/tables.ts';
import { tables } from '#lib/definitions/tables.ts';
import type { CfnTemplate, SynthesizedApp } from './support.ts';
import { onlyResource, resourcesOfType, synthSignet } from './support.ts';

interface KeySchemaElement {
  AttributeName: string;
  KeyType: 'HASH' | 'RANGE';
}
interface GlobalTableProps {
  KeySchema: KeySchemaElement[];
  AttributeDefinitions: Array<{ AttributeName: string; AttributeType: AttributeType }>;
  GlobalSecondaryIndexes?: Array<{ IndexName: string; KeySchema: KeySchemaElement[]; Projection: { ProjectionType: string } }>;
  TimeToLiveSpecification?: { AttributeName: string; Enabled: boolean };
}

let synth: SynthesizedApp;
let storage: CfnTemplate;
let api: CfnTemplate;
let global: CfnTemplate;

beforeAll(() => {
  synth = synthSignet();
  const primary = synth.stacks.regions[0];
  if (!primary) throw new Error('no primary region');
  storage = synth.json(primary.storage);
  api = synth.json(primary.api);
  global = synth.json(synth.stacks.global);
});
afterAll(() => synth?.dispose());

function keySchema(partitionKey: KeyAttribute, sortKey?: KeyAttribute): KeySchemaElement[] {
  return [{ AttributeName: partitionKey.name, KeyType: 'HASH' }, ...(sortKey ? [{ AttributeName: sortKey.name, KeyType: 'RANGE' as const }] : [])];
}

/** Every key attribute of the table and its indexes, with its type: what AttributeDefinitions must list. */
function keyAttributes(table: TableDefinition): Array<{ AttributeName: string; AttributeType: AttributeType }> {
  const keys = [table.partitionKey, table.sortKey, ...table.globalSecondaryIndexes.flatMap((i) => [i.partitionKey, i.sortKey])];
  const unique = new Map(keys.filter((k): k is KeyAttribute => k !== undefined).map((k) => [k.name, k.type]));
  return [...unique].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType })).sort((a, b) => a.AttributeName.localeCompare(b.AttributeName));
}

describe('tables parity', () => {
  it('declares exactly one DynamoDB table per definition', () => {
    expect(resourcesOfType(storage, 'AWS::DynamoDB::GlobalTable')).toHaveLength(tables.length);
    expect(resourcesOfType(storage, 'AWS::DynamoDB::Table')).toHaveLength(0);
  });

  it.each(tables.map((t) => [t.id, t] as const))('table %s: keys, attribute types, indexes and TTL as defined', (id, definition) => {
    const declared = resourcesOfType(storage, 'AWS::DynamoDB::GlobalTable').filter(([logicalId]) => logicalId.startsWith(id));
    expect(declared).toHaveLength(1);
    const props = declared[0]?.[1].Properties as unknown as GlobalTableProps;

    expect(props.KeySchema).toEqual(keySchema(definition.partitionKey, definition.sortKey));
    expect([...props.AttributeDefinitions].sort((a, b) => a.AttributeName.localeCompare(b.AttributeName))).toEqual(keyAttributes(definition));
    expect((props.GlobalSecondaryIndexes ?? []).map((i) => ({ indexName: i.IndexName, keySchema: i.KeySchema, projection: i.Projection.ProjectionType }))).toEqual(
      definition.globalSecondaryIndexes.map((i) => ({ indexName: i.indexName, keySchema: keySchema(i.partitionKey, i.sortKey), projection: i.projection })),
    );
    expect(props.TimeToLiveSpecification).toEqual(
      definition.timeToLiveAttribute ? { AttributeName: definition.timeToLiveAttribute, Enabled: true } : undefined,
    );
  });
});

describe('routes parity', () => {
  const declaredRoutes = () =>
    resourcesOfType(api, 'AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties as { RouteKey: string; AuthorizationType: string; Target: unknown });

  it('declares exactly the route keys of lib/definitions/routes.ts', () => {
    expect(declaredRoutes().map((r) => r.RouteKey).sort()).toEqual(routes.map(routeKey).sort());
  });

  it('authorizes each route as defined and sends it to its function', () => {
    const integrations = resourcesOfType(api, 'AWS::ApiGatewayV2::Integration');
    const lambdas = resourcesOfType(api, 'AWS::Lambda::Function');
    for (const route of routes) {
      const declared = declaredRoutes().find((r) => r.RouteKey === routeKey(route));
      expect(declared?.AuthorizationType).toBe(route.authorization === 'iam' ? 'AWS_IAM' : 'NONE');
      const integrationId = JSON.stringify(declared?.Target).match(/"Ref":"([^"]+)"/)?.[1];
      const integration = integrations.find(([logicalId]) => logicalId === integrationId)?.[1];
      const functionId = JSON.stringify(integration?.Properties?.IntegrationUri).match(/"Fn::GetAtt":\["([^"]+)","Arn"\]/)?.[1];
      const fn = lambdas.find(([logicalId]) => logicalId === functionId)?.[1];
      expect(fn?.Properties?.Description).toBe(`Signet ${functionById(route.functionId).id}`);
    }
  });

  it('declares exactly one function per definition', () => {
    expect(resourcesOfType(api, 'AWS::Lambda::Function').map(([, f]) => f.Properties?.Description).sort()).toEqual(functions.map((f) => `Signet ${f.id}`).sort());
  });
});

describe('bucket layout parity', () => {
  it('gives CloudFront one behaviour per path space plus the API, and nothing else', () => {
    const [, distribution] = onlyResource(global, 'AWS::CloudFront::Distribution');
    const behaviors = (distribution.Properties as { DistributionConfig: { CacheBehaviors: Array<{ PathPattern: string; TrustedKeyGroups?: unknown }> } }).DistributionConfig
      .CacheBehaviors;
    expect(behaviors.map((b) => b.PathPattern).sort()).toEqual([...pathSpaces.map((s) => s.pathPattern), apiPathPattern].sort());
    for (const space of pathSpaces) {
      expect(behaviors.find((b) => b.PathPattern === space.pathPattern)?.TrustedKeyGroups !== undefined).toBe(space.signedUrlRequired);
    }
  });

  it('lets CloudFront read exactly the prefixes of the path spaces in the bucket policy', () => {
    const statements = resourcesOfType(storage, 'AWS::S3::BucketPolicy').flatMap(
      ([, p]) => (p.Properties as { PolicyDocument: { Statement: Array<{ Principal?: { Service?: string }; Resource: unknown }> } }).PolicyDocument.Statement,
    );
    const cloudFront = statements.filter((s) => s.Principal?.Service === 'cloudfront.amazonaws.com');
    expect(cloudFront).toHaveLength(1);
    const prefixes = [cloudFront[0]?.Resource].flat().map((r) => (JSON.stringify(r).match(/"\/([^"]*)\*"\]\]\}$/) ?? [])[1]);
    expect(prefixes.sort()).toEqual(pathSpaces.map((s) => s.prefix).sort());
  });

  it('keeps path patterns and prefixes one to one', () => {
    for (const space of pathSpaces) expect(space.pathPattern).toBe(`/${space.prefix}*`);
  });
});
