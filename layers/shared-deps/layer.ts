/**
 * The shared-deps layer for the CDK app. The base function construct adds the layer and
 * passes `sharedDepsPackages` to esbuild as `externalModules`, so the functions import
 * those packages from /opt/nodejs/node_modules instead of bundling them.
 *
 * Setting `externalModules` replaces the construct's default (`@aws-sdk/*`): that is
 * intended, the SDK is bundled (see docs/lambda-layer.md for why).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AssetHashType, DockerImage } from 'aws-cdk-lib';
import { Code } from 'aws-cdk-lib/aws-lambda';

export { buildSharedDepsLayer } from './build.ts';
export { sharedDepsPackages } from './packages.ts';

const layerDir = fileURLToPath(new URL('./', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const buildScript = fileURLToPath(new URL('./build.ts', import.meta.url));

/**
 * The layer's code asset, built locally with esbuild on every synth. The asset hash is
 * taken from the output, which the build keeps byte-for-byte deterministic: a dependency
 * upgrade changes the hash, an unrelated synth does not.
 */
export function sharedDepsLayerCode(): Code {
  return Code.fromAsset(layerDir, {
    assetHashType: AssetHashType.OUTPUT,
    // A local build output in dist/ is no input: keep it out of CDK's fingerprinting.
    exclude: ['dist'],
    bundling: {
      // Never pulled: local bundling always succeeds or throws, and no Docker runs here.
      image: DockerImage.fromRegistry('none'),
      local: {
        tryBundle(outputDir: string): boolean {
          // CDK's hook is synchronous and the esbuild build is not: run it as a child process.
          execFileSync(process.execPath, ['--import', 'tsx', buildScript, outputDir], {
            cwd: repoRoot,
            env: { ...process.env, NODE_OPTIONS: '' },
            stdio: ['ignore', 'ignore', 'inherit'],
          });
          return true;
        },
      },
    },
  });
}
