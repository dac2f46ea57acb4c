/** Lambda entry: the scheduled timestamp refresh, built once per container from the environment (and its KMS key). */
import { cloudServices } from '#lib/aws/cloud-services.ts';
import { createTimestampRefreshHandler, timestampRefreshDependencies } from './handler.ts';

export const handler = createTimestampRefreshHandler(await timestampRefreshDependencies(cloudServices('timestampRefresh')));
