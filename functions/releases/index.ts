/** Lambda entry: the releases handler, built once per container from the environment (and its KMS keys). */
import { cloudServices } from '#lib/aws/cloud-services.ts';
import { createReleasesHandler, releasesDependencies } from './handler.ts';

export const handler = createReleasesHandler(await releasesDependencies(cloudServices('releases')));
