/**
 * The agent's state, one JSON file in its install directory (`agent-state.json`, mode
 * 0600: it holds the agent token and the license key). Written atomically: a temporary
 * file in the same directory, fsync, rename over the old one, fsync of the directory, so
 * a stop at any instant leaves either the old or the new state, never a torn one.
 */
import { syncDir, writeFileAtomic } from '#lib/files.ts';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { diskFailureOf } from './errors.ts';

export const STATE_FILE = 'agent-state.json';

export interface LastResult {
  readonly at: string;
  readonly result: 'ok' | 'failed' | 'up-to-date' | 'stopped';
  readonly version?: string;
  readonly detail?: string;
}

export interface AgentState {
  readonly schema: 1;
  /** The API origin, e.g. `https://updates.example.com`. */
  readonly server: string;
  readonly product: string;
  readonly channel?: string;
  readonly machineId: string;
  /** Kept to register again on its own (a reclaimed seat, a failed first registration). A secret: the file is 0600. */
  readonly licenseKey: string;
  readonly agentId?: string;
  readonly token?: string;
  readonly pollSeconds?: number;
  /** The root this agent was installed with, relative to the install dir. */
  readonly trustedRoot: string;
  /** A proxy.conf to use for every request (absolute path). */
  readonly proxyConf?: string;
  readonly installed?: {
    readonly version: string;
    /** The set's directory, relative to the install dir (what `current` points at). */
    readonly path: string;
    readonly setManifest: string;
    readonly installedAt: string;
  };
  /**
   * An install whose `ok` report has not reached the server yet: written with `installed`,
   * cleared once the report is sent, so a crash or a network failure in between sends it
   * on the next update (agent/reconcile.ts).
   */
  readonly pendingReport?: { readonly version: string };
  /** The snapshot version of the last successful update: while timestamp.json names it, nothing is new. */
  readonly lastSnapshotVersion?: number;
  readonly metadataUrl?: string;
  readonly lastResult?: LastResult;
  /** Set by an answer retrying cannot fix; cleared by `register` (or `update --force`). */
  readonly stopped?: { readonly code: string; readonly message: string; readonly at: string };
  /** A registration that has not succeeded yet: retried by the next update. */
  readonly registrationError?: { readonly code: string; readonly message: string; readonly at: string };
}

/** The time for the state's `at` fields. */
export const now = () => new Date().toISOString();

export function statePath(dir: string): string {
  return join(dir, STATE_FILE);
}

export async function readState(dir: string): Promise<AgentState | undefined> {
  let text: string;
  try {
    text = await readFile(statePath(dir), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const state = JSON.parse(text) as AgentState;
  if (state.schema !== 1) throw new Error(`${statePath(dir)}: unknown state schema ${String(state.schema)}`);
  return state;
}

export async function writeState(dir: string, state: AgentState): Promise<void> {
  await writeFileAtomic(statePath(dir), `${JSON.stringify(state, null, 2)}\n`, 0o600).catch((error: unknown) => {
    // A full disk names the state file, not the temporary one beside it (already removed).
    if (diskFailureOf(error)) (error as NodeJS.ErrnoException).path = statePath(dir);
    throw error;
  });
}

/** Reads, changes and writes the state; `undefined` fields in `change` are removed. */
export async function updateState(dir: string, change: Partial<AgentState>): Promise<AgentState> {
  const current = await readState(dir);
  if (!current) throw new Error(`no agent state in ${dir}: run \`signet agent register\` first`);
  const next = { ...current, ...change } as Record<string, unknown>;
  for (const [key, value] of Object.entries(next)) if (value === undefined) delete next[key];
  await writeState(dir, next as unknown as AgentState);
  return next as unknown as AgentState;
}

/**
 * Remembers an answer after which retrying cannot help (docs/agent-protocol.md, step 7):
 * the agent calls the service again only once the operator acts.
 */
export function recordStop(dir: string, error: { readonly code: string; readonly message: string }): Promise<AgentState> {
  return updateState(dir, { stopped: { code: error.code, message: error.message, at: now() }, lastResult: { at: now(), result: 'stopped', detail: `${error.code}: ${error.message}` } });
}

export { syncDir, writeFileAtomic };
