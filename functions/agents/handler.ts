/**
 * The agent-facing licensing endpoints:
 *   POST /v1/agents       register (take a seat) or re-register (new token, same seat)
 *   GET  /v1/agents/self  the calling agent as the service sees it (authenticated)
 */
import { parseJsonBody } from '#lib/http/body.ts';
import { clientAddress } from '#lib/http/client-address.ts';
import { apiHandler } from '#lib/http/handler.ts';
import { RateLimiter } from '#lib/http/rate-limit.ts';
import { json } from '#lib/http/response.ts';
import { authenticateAgent, bearerToken } from '#lib/licensing/authenticate.ts';
import type { RegistrationStore } from '#lib/licensing/register.ts';
import { registerAgent } from '#lib/licensing/register.ts';
import { registrationBody } from '#lib/licensing/requests.ts';
import { LicensingStore } from '#lib/licensing/store.ts';
import type { Logger } from '#lib/log.ts';
import type { Services } from '#lib/services.ts';

export interface AgentsDeps {
  readonly store: RegistrationStore;
  readonly pollSeconds: number;
  /** Registrations per client address: they cost a transaction each. */
  readonly registrations: RateLimiter;
  readonly logger: Logger;
  readonly now: () => Date;
}

export function agentsDependencies(services: Services): AgentsDeps {
  const { config } = services;
  return {
    store: new LicensingStore(services.dynamo, config.get('mainTable')),
    pollSeconds: config.get('pollSeconds'),
    registrations: new RateLimiter({ perSecond: config.get('registrationPerMinute') / 60, burst: config.get('registrationBurst') }),
    logger: services.logger,
    now: services.now,
  };
}

export function createAgentsHandler(deps: AgentsDeps) {
  return apiHandler(deps.logger, async (event) => {
    if (event.routeKey === 'GET /v1/agents/self') {
      const { agent, license } = await authenticateAgent(deps.store, bearerToken(event.headers), deps.now());
      return json(200, {
        agentId: agent.agentId,
        product: agent.product,
        status: agent.status,
        registeredAt: agent.registeredAt,
        license: { status: license.status, expiresAt: license.expiresAt },
        pollSeconds: deps.pollSeconds,
      });
    }
    deps.registrations.take(clientAddress(event));
    const registration = await registerAgent(deps.store, parseJsonBody(event, registrationBody), deps.now);
    return json(registration.created ? 201 : 200, { agentId: registration.agentId, token: registration.token, pollSeconds: deps.pollSeconds });
  });
}
