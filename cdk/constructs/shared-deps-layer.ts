/**
 * The seam between the CDK app and the shared-deps layer (layers/shared-deps/layer.ts,
 * owned by the layer's own work). The layer module is looked up at run time rather than
 * imported, so the app synthesizes with or without it; when present it must export
 * `sharedDepsPackages` (the npm specifiers it provides, which become esbuild
 * `externalModules`) and `sharedDepsLayerCode()` (the layer's `lambda.Code`).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { ARCHITECTURE, RUNTIME } from './signet-function.ts';

export const SHARED_DEPS_MODULE = new URL('../../layers/shared-deps/layer.ts', import.meta.url);

export interface SharedDepsModule {
  readonly sharedDepsPackages: readonly string[];
  sharedDepsLayerCode(): lambda.Code;
}

/** What a function needs to use the layer: the layer itself and what to leave out of its bundle. */
export interface SharedDeps {
  readonly layer?: lambda.ILayerVersion;
  readonly externalModules: readonly string[];
}

/** Loads the layer module if the file exists; a file that exists but exports the wrong shape is an error. */
export async function loadSharedDepsModule(url: URL = SHARED_DEPS_MODULE): Promise<SharedDepsModule | undefined> {
  if (!existsSync(fileURLToPath(url))) return undefined;
  const mod = (await import(url.href)) as Record<string, unknown>;
  const packages = mod.sharedDepsPackages;
  const code = mod.sharedDepsLayerCode;
  if (!Array.isArray(packages) || !packages.every((p) => typeof p === 'string') || typeof code !== 'function') {
    throw new Error(`${fileURLToPath(url)} must export sharedDepsPackages: readonly string[] and sharedDepsLayerCode(): lambda.Code`);
  }
  return { sharedDepsPackages: packages as readonly string[], sharedDepsLayerCode: code as () => lambda.Code };
}

/** One LayerVersion per stack (layers are regional), or none when the layer module is absent. */
export function sharedDepsLayer(scope: Construct, mod: SharedDepsModule | undefined): SharedDeps {
  if (mod === undefined) return { externalModules: [] };
  const layer = new lambda.LayerVersion(scope, 'SharedDepsLayer', {
    code: mod.sharedDepsLayerCode(),
    compatibleRuntimes: [RUNTIME],
    compatibleArchitectures: [ARCHITECTURE],
    description: `Signet shared dependencies: ${mod.sharedDepsPackages.join(', ')}`,
  });
  return { layer, externalModules: [...mod.sharedDepsPackages] };
}
