/**
 * Scheduled checks of what agents see, defined once: the monitoring stack of every region
 * creates one function per entry (cdk/constructs/timestamp-check.ts) and its Lambda entry
 * reads exactly the variables listed here. Not API functions (lib/definitions/routes.ts):
 * they serve no route, write nothing, and watch the service from outside, through the CDN.
 */
import type { VariableKey } from '#lib/config.ts';

export interface CheckDefinition {
  /** Stable construct id; the folder under `functions/` is its kebab-case form. */
  readonly id: string;
  /** The Lambda entry, relative to the repository root; it exports `handler`. */
  readonly entry: string;
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
  /** The variables (lib/config.ts) it reads; the construct sets exactly these, with their grants. */
  readonly variables: readonly VariableKey[];
}

export const timestampCheck: CheckDefinition = {
  id: 'timestampCheck',
  entry: 'functions/timestamp-check/index.ts',
  // One small HTTPS fetch and one SSM read per cold start.
  memoryMb: 256,
  // The fetch times out after 10 s (functions/timestamp-check/index.ts); the SSM read retries within the rest.
  timeoutSeconds: 30,
  // Where the CDN's base URL is: the parameter the global stack writes (docs/cdk.md, "The CDN identity parameter").
  variables: ['cdnParameter', 'cdnParameterRegion'],
};
