/** Lambda entry: the manifest handler, built once per container from the environment (and the CDN parameter). */
import { cloudServices } from '#lib/aws/cloud-services.ts';
import { createManifestHandler, manifestDependencies } from './handler.ts';

export const handler = createManifestHandler(await manifestDependencies(cloudServices('manifest')));
