/** Lambda entry: the health handler, built once per container from the environment. */
import { cloudServices } from '#lib/aws/cloud-services.ts';
import { createHealthHandler, healthDependencies } from './handler.ts';

export const handler = createHealthHandler(healthDependencies(cloudServices('health')));
