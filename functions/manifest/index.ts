/** Lambda entry: the manifest handler, built once per container from the environment and the CDN parameter. */
import { cloudCdn } from '#lib/aws/cloud-cdn.ts';
import { cloudServices } from '#lib/aws/cloud-services.ts';
import { createManifestHandler, manifestDependencies } from './handler.ts';

export const handler = createManifestHandler(await manifestDependencies(cloudServices('manifest', (config) => ({ cdn: () => cloudCdn(config) }))));
