/** Lambda entry: the agents handler, built once per container from the environment. */
import { cloudServices } from '#lib/aws/cloud-services.ts';
import { agentsDependencies, createAgentsHandler } from './handler.ts';

export const handler = createAgentsHandler(agentsDependencies(cloudServices('agents')));
