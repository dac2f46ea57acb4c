/**
 * Agent authentication for every call after registration: the bearer token, then the
 * agent's, its license's and its computer's state, all from one strongly consistent
 * BatchGetItem. So a revoked agent, a suspended license or a blacklisted computer is
 * refused on its very next call. Last-seen is written at most once an hour per agent.
 */
import { ApiError } from '#lib/http/errors.ts';
import type { Agent, License } from './model.ts';
import { LAST_SEEN_RESOLUTION_MS, agentRevoked, computerBlacklisted, licenseRefusal } from './model.ts';
import { digestsEqual, parseAgentToken, sha256Hex } from './secrets.ts';
import type { Key, LicensingStore } from './store.ts';

export interface AuthenticatedAgent {
  readonly agent: Agent;
  readonly license: License;
  /** The items asked for with `extraKeys`, in order (undefined where absent). */
  readonly extra: ReadonlyArray<Record<string, unknown> | undefined>;
}

const invalidCredentials = (message = 'the agent token is not valid') => new ApiError('INVALID_CREDENTIALS', message);

/** The token from `Authorization: Bearer <token>`, or a 401. */
export function bearerToken(headers: Record<string, string | undefined>): string {
  const header = headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  if (!match?.[1]) throw invalidCredentials('an Authorization: Bearer <token> header is required');
  return match[1];
}

export async function authenticateAgent(store: LicensingStore, token: string, now: Date, extraKeys: readonly Key[] = []): Promise<AuthenticatedAgent> {
  const parsed = parseAgentToken(token);
  if (!parsed) throw invalidCredentials();
  const { license, agent, blacklisted, extra } = await store.readAccess(parsed, extraKeys);
  if (!agent || agent.licenseId !== parsed.licenseId || agent.machineHash !== parsed.machineHash) throw invalidCredentials();
  if (!digestsEqual(agent.tokenHash, sha256Hex(parsed.secret))) throw invalidCredentials();
  if (agent.status === 'revoked') throw agentRevoked(agent.agentId);
  if (agent.status === 'reclaimed') throw invalidCredentials('the seat of this agent was reclaimed after a long silence: register again');
  if (agent.status !== 'active') throw invalidCredentials('this agent holds no seat (its revocation was lifted): register again');
  const refusal = licenseRefusal(license, agent.product, now);
  if (refusal) throw refusal;
  if (blacklisted) throw computerBlacklisted();
  if (Date.parse(agent.lastSeenAt) < now.getTime() - LAST_SEEN_RESOLUTION_MS) await store.touch(agent, now);
  return { agent, license: license as License, extra };
}
