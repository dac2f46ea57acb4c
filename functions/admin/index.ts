/** Lambda entry: the admin handler, built once per container from the environment. */
import { cloudServices } from '#lib/aws/cloud-services.ts';
import { adminDependencies, createAdminHandler } from './handler.ts';

export const handler = createAdminHandler(adminDependencies(cloudServices('admin')));
