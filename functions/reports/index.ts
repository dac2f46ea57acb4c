/** Lambda entry: the reports handler, built once per container from the environment. */
import { cloudInvoke } from '#lib/aws/cloud-invoke.ts';
import { cloudServices } from '#lib/aws/cloud-services.ts';
import { createReportsHandler, reportsDependencies } from './handler.ts';

export const handler = createReportsHandler(reportsDependencies(cloudServices('reports', (config) => ({ invoke: cloudInvoke(config) }))));
