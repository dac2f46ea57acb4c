/**
 * The API's functions and routes, defined once. The CDK API stack creates one Lambda
 * function per entry in `functions` and one HTTP API route per entry in `routes`; the
 * local origin dispatches to the same handler modules by the same route keys.
 */
import type { TableDefinition } from './tables.ts';
import { mainTable } from './tables.ts';

export type Access = 'read' | 'write';

export interface FunctionDefinition {
  /** Stable construct id and the folder under `functions/`. */
  readonly id: string;
  /** Handler module, relative to the repository root; it exports `handler`. */
  readonly entry: string;
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
  /** Tables the function uses and how: CDK grants exactly this, and sets the env var. */
  readonly tables: ReadonlyArray<{ readonly table: TableDefinition; readonly access: Access }>;
  /** Access to the signature bucket, if any. */
  readonly bucket?: Access;
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
}

export const functions: readonly FunctionDefinition[] = [
  {
    id: 'health',
    entry: 'functions/health/handler.ts',
    memoryMb: 256,
    timeoutSeconds: 5,
    tables: [{ table: mainTable, access: 'read' }],
  },
];

export const routes: readonly RouteDefinition[] = [
  { method: 'GET', path: '/v1/health', functionId: 'health', authorization: 'public' },
];

/** API Gateway's route key, `GET /v1/health`: the unit the parity test compares. */
export function routeKey(route: RouteDefinition): string {
  return `${route.method} ${route.path}`;
}

export function functionById(id: string): FunctionDefinition {
  const fn = functions.find((f) => f.id === id);
  if (!fn) throw new Error(`route refers to unknown function "${id}"`);
  return fn;
}
