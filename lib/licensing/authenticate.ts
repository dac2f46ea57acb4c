/**
 * Agent authentication for every call after registration: the bearer token, then the
 * agent's, its license's and its computer's state, all from one strongly consistent
 * BatchGetItem. So a revoked agent, a suspended license or a blacklisted computer is
 * refused on its very next call. Last-seen is written at most once an hour per agent.
 */
import { AgentRevoked, ComputerBlacklisted, InvalidCredentials } from '#lib/errors.ts';
import type { Agent, License } from './model.ts';
import { LAST_SEEN_RESOLUTION_MS, licenseRefusal } from './model.ts';
import { sha256Hex } from '#lib/hash.ts';
import { digestsEqual, parseAgentToken } from './secrets.ts';
import type { Item, Key } from '#lib/aws/table.ts';
import type { LicensingStore } from './store.ts';

/** What authentication needs of the licensing store (an in-memory fake stands in for it in unit tests). */
export type AccessStore = Pick<LicensingStore, 'readAccess' | 'touch'>;

/** A record of another module to read in the same round trip, decoded by its owner (`channelRecord` in lib/releases/store.ts). */
export interface AlsoRead<T> {
  readonly key: Key;
  decode(item: Item | undefined): T | undefined;
}

type Decoded<A extends readonly AlsoRead<unknown>[]> = { [I in keyof A]: A[I] extends AlsoRead<infer T> ? T | undefined : never };

export interface AuthenticatedAgent<A extends readonly AlsoRead<unknown>[] = []> {
  readonly agent: Agent;
  readonly license: License;
  /** The records asked for with `also`, in order, decoded (undefined where absent). */
  readonly also: Decoded<A>;
}


/** The token from `Authorization: Bearer <token>`, or a 401. */
export function bearerToken(headers: Record<string, string | undefined>): string {
  const header = headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  if (!match?.[1]) throw new InvalidCredentials('an Authorization: Bearer <token> header is required');
  return match[1];
}

export async function authenticateAgent<const A extends readonly AlsoRead<unknown>[] = []>(
  store: AccessStore,
  token: string,
  now: Date,
  also: A = [] as unknown as A,
): Promise<AuthenticatedAgent<A>> {
  const parsed = parseAgentToken(token);
  if (!parsed) throw new InvalidCredentials();
  const { license, agent, blacklisted, extra } = await store.readAccess(parsed, also.map((record) => record.key));
  if (!agent || agent.licenseId !== parsed.licenseId || agent.machineHash !== parsed.machineHash) throw new InvalidCredentials();
  if (!digestsEqual(agent.tokenHash, sha256Hex(parsed.secret))) throw new InvalidCredentials();
  if (agent.status === 'revoked') throw new AgentRevoked(agent.agentId);
  if (agent.status === 'reclaimed') throw new InvalidCredentials('the seat of this agent was reclaimed after a long silence: register again');
  if (agent.status !== 'active') throw new InvalidCredentials('this agent holds no seat (its revocation was lifted): register again');
  const refusal = licenseRefusal(license, agent.product, now);
  if (refusal) throw refusal;
  if (blacklisted) throw new ComputerBlacklisted();
  if (Date.parse(agent.lastSeenAt) < now.getTime() - LAST_SEEN_RESOLUTION_MS) await store.touch(agent, now);
  return { agent, license: license as License, also: also.map((record, i) => record.decode(extra[i])) as Decoded<A> };
}
