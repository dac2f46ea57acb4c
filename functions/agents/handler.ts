/**
 * The agent-facing licensing endpoints:
 *   POST /v1/agents       register (take a seat) or re-register (new token, same seat)
 *   GET  /v1/agents/self  the calling agent as the service sees it (authenticated)
 */
import { dynamo } from '#lib/aws/clients.ts';
import { pollSeconds, tableConfig } from '#lib/config.ts';
import { parseJsonBody } from '#lib/http/body.ts';
import { apiHandler } from '#lib/http/handler.ts';
import { RateLimiter, rateLimitFromEnv } from '#lib/http/rate-limit.ts';
import { clientAddress } from '#lib/http/client-address.ts';
import { json } from '#lib/http/response.ts';
import { authenticateAgent, bearerToken } from '#lib/licensing/authenticate.ts';
import { registerAgent } from '#lib/licensing/register.ts';
import { registrationBody } from '#lib/licensing/requests.ts';
import { LicensingStore } from '#lib/licensing/store.ts';

const store = new LicensingStore(dynamo(), tableConfig().mainTable);
const poll = pollSeconds();
// Registration costs a transaction: a few per minute per address is what a site with NAT needs.
const registrations = new RateLimiter(rateLimitFromEnv('REGISTRATION', { perMinute: 120, burst: 120 }));

export const handler = apiHandler(async (event) => {
  if (event.routeKey === 'GET /v1/agents/self') {
    const { agent, license } = await authenticateAgent(store, bearerToken(event.headers), new Date());
    return json(200, {
      agentId: agent.agentId,
      product: agent.product,
      status: agent.status,
      registeredAt: agent.registeredAt,
      license: { status: license.status, expiresAt: license.expiresAt },
      pollSeconds: poll,
    });
  }
  registrations.take(clientAddress(event));
  const request = parseJsonBody(event, registrationBody);
  const registration = await registerAgent(store, request, () => new Date());
  return json(registration.created ? 201 : 200, { agentId: registration.agentId, token: registration.token, pollSeconds: poll });
});
