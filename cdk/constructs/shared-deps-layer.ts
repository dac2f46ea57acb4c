/**
 * The shared-deps layer (layers/shared-deps/layer.ts) in a stack: one LayerVersion per stack
 * (layers are regional), and the packages it provides, which the functions leave out of
 * their bundles (esbuild `externalModules`) and import from /opt/nodejs/node_modules.
 */
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { sharedDepsLayerCode, sharedDepsPackages } from '../../layers/shared-deps/layer.ts';
import { ARCHITECTURE, RUNTIME } from './signet-function.ts';

/** What a function needs to use the layer: the layer itself and what to leave out of its bundle. */
export interface SharedDeps {
  readonly layer: lambda.ILayerVersion;
  readonly externalModules: readonly string[];
}

export function sharedDepsLayer(scope: Construct): SharedDeps {
  const layer = new lambda.LayerVersion(scope, 'SharedDepsLayer', {
    code: sharedDepsLayerCode(),
    compatibleRuntimes: [RUNTIME],
    compatibleArchitectures: [ARCHITECTURE],
    description: `Signet shared dependencies: ${sharedDepsPackages.join(', ')}`,
  });
  return { layer, externalModules: [...sharedDepsPackages] };
}
