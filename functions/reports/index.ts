/** Lambda entry: the reports handler, built once per container from the environment. */
import { cloudServices } from '#lib/aws/cloud-services.ts';
import { createReportsHandler, reportsDependencies } from './handler.ts';

export const handler = createReportsHandler(reportsDependencies(cloudServices('reports')));
