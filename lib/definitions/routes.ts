/**
 * The API's functions and routes, defined once. The CDK API stack creates one Lambda
 * function per entry in `functions` and one HTTP API route per entry in `routes`; the
 * local origin dispatches to the same handler modules by the same route keys.
 */
import type { RuntimeKey, VariableKey } from '#lib/config.ts';
import type { TableDefinition } from './tables.ts';
import { mainTable } from './tables.ts';

export type Access = 'read' | 'write';

export interface FunctionDefinition {
  /** Stable construct id and the folder under `functions/`. */
  readonly id: string;
  /** The Lambda entry, relative to the repository root; it exports `handler`. Beside it, `handler.ts` exports the factory the local stack uses. */
  readonly entry: string;
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
  /** Tables the function uses and how: CDK grants exactly this, and sets the env var. */
  readonly tables: ReadonlyArray<{ readonly table: TableDefinition; readonly access: Access }>;
  /** Access to the signature bucket, if any. */
  readonly bucket?: Access;
  /** Online TUF keys the function signs with (KMS in the cloud, files locally). */
  readonly signingKeys?: ReadonlyArray<'snapshot' | 'timestamp'>;
  /** Signs CloudFront download grants with the CDN key (KMS in the cloud, a file locally). */
  readonly cdnSigning?: boolean;
  /** Starts the repository function (timestampRefresh) to move the snapshot after a rollout change it made. */
  readonly invokesRepository?: boolean;
  /**
   * Deployed in the primary region only, with its routes: it writes the repository (the
   * bucket, the online keys) or takes admin calls. A replica region's API carries the
   * agent routes alone, so a replica cannot break the repository; the function also refuses
   * to start outside the primary region (`primaryRegion`, lib/aws/cloud-services.ts).
   */
  readonly primaryOnly?: boolean;
  /**
   * Runs on a schedule (every `timestampRefreshMinutes` of the runtime settings) instead of
   * serving routes, in one region: the primary, or the timestamp failover region.
   */
  readonly scheduled?: boolean;
  /** The runtime settings it reads (lib/config.ts); CDK sets exactly these from the deployment's `runtime` block. */
  readonly settings: readonly RuntimeKey[];
}

/**
 * Every variable a function reads: the resource ones its tables, bucket and keys imply
 * (set by the base construct's bind methods) and its runtime settings.
 */
export function declaredVariables(definition: FunctionDefinition): VariableKey[] {
  return [
    ...definition.tables.map((t) => t.table.variable),
    ...(definition.bucket ? (['bucket'] as const) : []),
    // Every writer of timestamp.json writes replica views when the bucket replicates.
    ...(definition.bucket === 'write' ? (['replicaViews'] as const) : []),
    ...(definition.signingKeys ?? []).map((role) => (role === 'snapshot' ? 'snapshotKmsKey' : 'timestampKmsKey') as VariableKey),
    ...(definition.cdnSigning ? (['cdnKmsKey', 'cdnParameter', 'cdnParameterRegion'] as const) : []),
    ...(definition.invokesRepository ? (['repositoryFunction'] as const) : []),
    ...(definition.primaryOnly ? (['primaryRegion'] as const) : []),
    ...definition.settings,
  ];
}

/**
 * Who may call a route: `public` (anyone; the handler may still check an agent's bearer
 * token), or `iam` (SigV4-signed admin and publish calls: the IAM authorizer in the
 * cloud, the local origin's SigV4 check locally).
 */
export type Authorization = 'public' | 'iam';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RouteDefinition {
  readonly method: HttpMethod;
  /** API Gateway path syntax: `/v1/licenses/{key}`. */
  readonly path: string;
  readonly functionId: string;
  readonly authorization: Authorization;
  /**
   * For a route that takes bodies larger than the handlers' default limit (16 KB,
   * DEFAULT_MAX_BODY_BYTES of lib/http/body.ts): the largest it takes. Its handler parses
   * with it (declaredBodyLimit), and the web ACL lets bodies above the common rule set's
   * 8 KB through to it, and to no other route (docs/cdk.md, "WAF").
   */
  readonly maxBodyBytes?: number;
}

export const functions: readonly FunctionDefinition[] = [
  {
    id: 'health',
    entry: 'functions/health/index.ts',
    memoryMb: 256,
    timeoutSeconds: 5,
    tables: [{ table: mainTable, access: 'read' }],
    settings: [],
  },
  {
    id: 'agents',
    entry: 'functions/agents/index.ts',
    memoryMb: 512,
    timeoutSeconds: 10,
    tables: [{ table: mainTable, access: 'write' }],
    settings: ['pollSeconds', 'registrationPerMinute', 'registrationBurst'],
  },
  {
    id: 'admin',
    entry: 'functions/admin/index.ts',
    memoryMb: 512,
    timeoutSeconds: 10,
    tables: [{ table: mainTable, access: 'write' }],
    // Licenses and revocations: one place to administer, the primary's API.
    primaryOnly: true,
    settings: [],
  },
  {
    // The hot path: sized for a fast cold start and a cached grant per product.
    id: 'manifest',
    entry: 'functions/manifest/index.ts',
    memoryMb: 1024,
    timeoutSeconds: 10,
    tables: [{ table: mainTable, access: 'write' }],
    cdnSigning: true,
    settings: ['pollSeconds', 'grantLifetimeSeconds', 'manifestPerMinute', 'manifestBurst', 'channelCacheSeconds'],
  },
  {
    id: 'reports',
    entry: 'functions/reports/index.ts',
    memoryMb: 512,
    timeoutSeconds: 10,
    tables: [{ table: mainTable, access: 'write' }],
    // An auto-halt is a rollout change: the repository function moves the snapshot for it.
    invokesRepository: true,
    settings: ['reportsPerMinute', 'reportsBurst', 'haltFailureRate', 'haltMinReports', 'channelCacheSeconds'],
  },
  {
    // Site mirrors (license-key authenticated): leases, relayed reports, offline timestamps.
    id: 'mirrors',
    entry: 'functions/mirrors/index.ts',
    memoryMb: 1024,
    timeoutSeconds: 29,
    tables: [{ table: mainTable, access: 'write' }],
    // Reads the committed metadata; moving the snapshot (after an auto-halt, before a long
    // offline timestamp) writes staged and final metadata and timestamp.json.
    bucket: 'write',
    // It moves the snapshot (a repository write), so it runs where the repository is
    // written; CloudFront sends the mirror routes to the primary region (docs/cdk.md).
    primaryOnly: true,
    // Timestamp: leases and offline timestamps. Snapshot: it moves the snapshot itself.
    signingKeys: ['snapshot', 'timestamp'],
    // Leases carry a download grant per product, as manifests do.
    cdnSigning: true,
    settings: ['pollSeconds', 'grantLifetimeSeconds', 'mirrorPerMinute', 'mirrorBurst', 'haltFailureRate', 'haltMinReports', 'timestampExpiryHours'],
  },
  {
    id: 'releases',
    entry: 'functions/releases/index.ts',
    memoryMb: 1024,
    timeoutSeconds: 29,
    tables: [{ table: mainTable, access: 'write' }],
    bucket: 'write',
    primaryOnly: true,
    signingKeys: ['snapshot', 'timestamp'],
    settings: ['timestampExpiryHours'],
  },
  {
    id: 'timestampRefresh',
    entry: 'functions/timestamp-refresh/index.ts',
    memoryMb: 512,
    timeoutSeconds: 60,
    tables: [{ table: mainTable, access: 'write' }],
    bucket: 'write',
    // The snapshot key too: it moves the snapshot when a report halts a rollout, and
    // renews it on schedule when it nears its expiry.
    signingKeys: ['snapshot', 'timestamp'],
    scheduled: true,
    settings: ['timestampExpiryHours'],
  },
];

/** The definition of function `id`; an unknown id is a bug, so it throws. */
export function functionDefinition(id: string): FunctionDefinition {
  const found = functions.find((f) => f.id === id);
  if (!found) throw new Error(`no function ${id} in lib/definitions/routes.ts`);
  return found;
}

export const routes: readonly RouteDefinition[] = [
  { method: 'GET', path: '/v1/health', functionId: 'health', authorization: 'public' },
  // Agents: registration is public (the license key is the credential); the rest carry the agent's bearer token.
  { method: 'POST', path: '/v1/agents', functionId: 'agents', authorization: 'public' },
  { method: 'GET', path: '/v1/agents/self', functionId: 'agents', authorization: 'public' },
  { method: 'POST', path: '/v1/manifest', functionId: 'manifest', authorization: 'public' },
  { method: 'POST', path: '/v1/reports', functionId: 'reports', authorization: 'public' },
  // Site mirrors: public, the license key is the credential (as for registration).
  { method: 'POST', path: '/v1/mirrors/lease', functionId: 'mirrors', authorization: 'public' },
  // A relay of up to 500 reports with 1,000-character details: well under 2 MB.
  { method: 'POST', path: '/v1/mirrors/reports', functionId: 'mirrors', authorization: 'public', maxBodyBytes: 2 * 1024 * 1024 },
  { method: 'POST', path: '/v1/mirrors/offline-timestamp', functionId: 'mirrors', authorization: 'public' },
  // Operators, SigV4-signed.
  { method: 'POST', path: '/v1/admin/licenses', functionId: 'admin', authorization: 'iam' },
  { method: 'GET', path: '/v1/admin/licenses', functionId: 'admin', authorization: 'iam' },
  { method: 'GET', path: '/v1/admin/licenses/{licenseId}', functionId: 'admin', authorization: 'iam' },
  { method: 'GET', path: '/v1/admin/licenses/{licenseId}/agents', functionId: 'admin', authorization: 'iam' },
  { method: 'POST', path: '/v1/admin/licenses/{licenseId}/suspend', functionId: 'admin', authorization: 'iam' },
  { method: 'POST', path: '/v1/admin/licenses/{licenseId}/resume', functionId: 'admin', authorization: 'iam' },
  { method: 'POST', path: '/v1/admin/licenses/{licenseId}/revoke', functionId: 'admin', authorization: 'iam' },
  { method: 'POST', path: '/v1/admin/agents/{agentId}/revoke', functionId: 'admin', authorization: 'iam' },
  { method: 'POST', path: '/v1/admin/agents/{agentId}/unrevoke', functionId: 'admin', authorization: 'iam' },
  { method: 'GET', path: '/v1/admin/blacklist', functionId: 'admin', authorization: 'iam' },
  { method: 'PUT', path: '/v1/admin/blacklist/{machineId}', functionId: 'admin', authorization: 'iam' },
  { method: 'DELETE', path: '/v1/admin/blacklist/{machineId}', functionId: 'admin', authorization: 'iam' },
  // Publishing and rollout (CI and operators), SigV4-signed.
  { method: 'GET', path: '/v1/admin/repository', functionId: 'releases', authorization: 'iam' },
  { method: 'PUT', path: '/v1/admin/repository/root', functionId: 'releases', authorization: 'iam', maxBodyBytes: 256 * 1024 },
  // Targets metadata grows with the files of every retained version: a few MB.
  { method: 'POST', path: '/v1/admin/releases', functionId: 'releases', authorization: 'iam', maxBodyBytes: 8 * 1024 * 1024 },
  { method: 'POST', path: '/v1/admin/channels/{product}/{channel}/promote', functionId: 'releases', authorization: 'iam' },
  { method: 'POST', path: '/v1/admin/channels/{product}/{channel}/halt', functionId: 'releases', authorization: 'iam' },
  { method: 'GET', path: '/v1/admin/audit', functionId: 'releases', authorization: 'iam' },
  { method: 'GET', path: '/v1/admin/products', functionId: 'releases', authorization: 'iam' },
  { method: 'GET', path: '/v1/admin/fleet/{product}', functionId: 'releases', authorization: 'iam' },
];

/** API Gateway's route key, `GET /v1/health`: the unit the parity test compares. */
export function routeKey(route: RouteDefinition): string {
  return `${route.method} ${route.path}`;
}

/** The body limit route `key` (`POST /v1/mirrors/reports`) declares; a route without one is a bug, so it throws. */
export function declaredBodyLimit(key: string): number {
  const limit = routes.find((r) => routeKey(r) === key)?.maxBodyBytes;
  if (limit === undefined) throw new Error(`no route ${key} with maxBodyBytes in lib/definitions/routes.ts`);
  return limit;
}

/** Whether the route exists in the primary region only: its function is `primaryOnly`. */
export function isPrimaryOnly(route: RouteDefinition): boolean {
  return functionById(route.functionId).primaryOnly === true;
}

export function functionById(id: string): FunctionDefinition {
  const fn = functions.find((f) => f.id === id);
  if (!fn) throw new Error(`route refers to unknown function "${id}"`);
  return fn;
}
