/** Starting another function of the service from Lambda: an asynchronous invoke of the function the configuration names. */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { FunctionConfig } from '#lib/config.ts';
import type { Services } from '#lib/services.ts';

/** Only the repository function (timestampRefresh) is ever invoked, by name from `repositoryFunction`. */
export function cloudInvoke(config: FunctionConfig): Services['invoke'] {
  const lambda = new LambdaClient({ maxAttempts: 3 });
  return async (functionId, event) => {
    if (functionId !== 'timestampRefresh') throw new Error(`no function ${functionId} to invoke`);
    // A region that does not sign timestamps (a replica; the primary while failed over): the signing region makes its rollout changes visible.
    if (!config.has('repositoryFunction')) return;
    await lambda.send(new InvokeCommand({ FunctionName: config.get('repositoryFunction'), InvocationType: 'Event', Payload: Buffer.from(JSON.stringify(event)) }));
  };
}
