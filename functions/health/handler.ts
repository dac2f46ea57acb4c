/**
 * GET /v1/health: answers 200 when this function can reach its table. One GetItem on a
 * key that never exists: the cheapest proof that the credentials, the network path and
 * the table are all there.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { apiHandler } from '#lib/http/handler.ts';
import { json } from '#lib/http/response.ts';
import type { Logger } from '#lib/log.ts';
import type { Services } from '#lib/services.ts';

export interface HealthDeps {
  /** Resolves when the table answers. */
  readonly tableAnswers: () => Promise<void>;
  readonly logger: Logger;
}

export function healthDependencies(services: Services): HealthDeps {
  const table = services.config.get('mainTable');
  return {
    tableAnswers: async () => {
      await services.dynamo.send(new GetCommand({ TableName: table, Key: { pk: 'health', sk: 'health' } }));
    },
    logger: services.logger,
  };
}

export function createHealthHandler(deps: HealthDeps) {
  return apiHandler(deps.logger, async () => {
    await deps.tableAnswers();
    return json(200, { status: 'ok' });
  });
}
