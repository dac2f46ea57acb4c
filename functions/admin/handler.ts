/**
 * The operators' API, behind IAM (SigV4) authorization: licenses, agents, blacklist.
 * The caller's IAM identity is recorded as the actor of every change.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { InvalidRequest, NotFound } from '#lib/errors.ts';
import { parseJsonBody, parseWith } from '#lib/http/body.ts';
import { apiHandler } from '#lib/http/handler.ts';
import { iamActor } from '#lib/http/iam.ts';
import { json } from '#lib/http/response.ts';
import { pageQuery, pageSize } from '#lib/aws/pages.ts';
import type { PageRequest } from '#lib/licensing/admin.ts';
import { blacklistMachine, changeLicenseStatus, createLicense, listBlacklist, listLicenses, listSeatHolders, revokeAgent, showLicense, unblacklistMachine, unrevokeAgent } from '#lib/licensing/admin.ts';
import { blacklistBody, createLicenseBody, machineId } from '#lib/licensing/requests.ts';
import { LicensingStore } from '#lib/licensing/store.ts';
import type { Logger } from '#lib/log.ts';
import type { Services } from '#lib/services.ts';

export interface AdminDeps {
  readonly store: LicensingStore;
  readonly logger: Logger;
  readonly now: () => Date;
}

export function adminDependencies(services: Services): AdminDeps {
  return { store: new LicensingStore(services.dynamo, services.config.get('mainTable')), logger: services.logger, now: services.now };
}

const HEX32 = /^[0-9a-f]{32}$/;

function idParam(event: APIGatewayProxyEventV2, name: string): string {
  const value = event.pathParameters?.[name] ?? '';
  if (!HEX32.test(value)) throw new InvalidRequest(name, 'must be 32 lower-case hex characters');
  return value;
}

/** A DELETE or PUT may come without a body; treat that as `{}`. */
function optionalBody(event: APIGatewayProxyEventV2) {
  return event.body ? parseJsonBody(event, blacklistBody) : {};
}

/** `?limit=&cursor=` of a list route. */
export function pageRequest(event: Pick<APIGatewayProxyEventV2, 'queryStringParameters'>): PageRequest {
  const query = parseWith(pageQuery, event.queryStringParameters ?? {});
  return { limit: pageSize(query.limit), ...(query.cursor !== undefined && { cursor: query.cursor }) };
}

export function createAdminHandler({ store, logger, now: clock }: AdminDeps) {
  return apiHandler(logger, async (event) => {
    const actor = iamActor(event);
    const now = clock();
    switch (event.routeKey) {
      case 'POST /v1/admin/licenses':
        return json(201, await createLicense(store, parseJsonBody(event, createLicenseBody), actor, now));
      case 'GET /v1/admin/licenses':
        return json(200, await listLicenses(store, pageRequest(event)));
      case 'GET /v1/admin/licenses/{licenseId}/agents':
        return json(200, await listSeatHolders(store, idParam(event, 'licenseId'), pageRequest(event)));
      case 'GET /v1/admin/blacklist':
        return json(200, await listBlacklist(store, pageRequest(event)));
      case 'GET /v1/admin/licenses/{licenseId}':
        return json(200, await showLicense(store, idParam(event, 'licenseId')));
      case 'POST /v1/admin/licenses/{licenseId}/suspend':
        return json(200, { license: await changeLicenseStatus(store, idParam(event, 'licenseId'), 'suspend', actor, now) });
      case 'POST /v1/admin/licenses/{licenseId}/resume':
        return json(200, { license: await changeLicenseStatus(store, idParam(event, 'licenseId'), 'resume', actor, now) });
      case 'POST /v1/admin/licenses/{licenseId}/revoke':
        return json(200, { license: await changeLicenseStatus(store, idParam(event, 'licenseId'), 'revoke', actor, now) });
      case 'POST /v1/admin/agents/{agentId}/revoke':
        return json(200, { agent: await revokeAgent(store, idParam(event, 'agentId'), actor, now) });
      case 'POST /v1/admin/agents/{agentId}/unrevoke':
        return json(200, { agent: await unrevokeAgent(store, idParam(event, 'agentId'), actor, now) });
      case 'PUT /v1/admin/blacklist/{machineId}': {
        const machine = parseWith(machineId, event.pathParameters?.machineId, 'machineId');
        return json(200, await blacklistMachine(store, machine, optionalBody(event).reason, actor, now));
      }
      case 'DELETE /v1/admin/blacklist/{machineId}':
        return json(200, await unblacklistMachine(store, parseWith(machineId, event.pathParameters?.machineId, 'machineId'), actor, now));
      default:
        throw new NotFound(`no admin route ${event.routeKey}`);
    }
  });
}
