/**
 * GET /v1/health: answers 200 when this function can reach its table. One strongly
 * consistent-free GetItem on a key that never exists: the cheapest proof that the
 * credentials, the network path and the table are all there.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '#lib/aws/clients.ts';
import { tableConfig } from '#lib/config.ts';
import { apiHandler } from '#lib/http/handler.ts';
import { json } from '#lib/http/response.ts';

const { mainTable } = tableConfig();

export const handler = apiHandler(async () => {
  await dynamo().send(new GetCommand({ TableName: mainTable, Key: { pk: 'health', sk: 'health' } }));
  return json(200, { status: 'ok' });
});
