/**
 * Bundles one function entry the way the CDK base function construct does (ESM, minified,
 * node22, `module` before `main`), so the measurement and the layer test look at the same
 * bytes that ship. Keep these options in step with the construct's `bundling` props.
 */
import { build } from 'esbuild';

/**
 * esbuild's ESM output has no `require`; bundled CommonJS that calls `require('node:…')`
 * would throw "Dynamic require of … is not supported" without it.
 */
export const esmRequireBanner =
  "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

export interface FunctionBundleOptions {
  /** Bare specifiers left as imports (esbuild `external`; `@aws-sdk/*` style wildcards work). */
  readonly external?: readonly string[];
}

export async function bundleFunction(entry: string, outfile: string, options: FunctionBundleOptions = {}): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    minify: true,
    mainFields: ['module', 'main'],
    banner: { js: esmRequireBanner },
    external: [...(options.external ?? [])],
    logLevel: 'error',
  });
}
