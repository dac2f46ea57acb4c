/**
 * The site package: `signet` with the agent and mirror commands (cli/site.ts) as one ESM
 * file that needs nothing but Node 20, plus the CloudFront Function source the mirror's
 * origin runs in a sandbox (lib/cdn/viewer-request.ts reads it next to the code) and the
 * agent's patch decoder under node_modules/. What the systemd units and the container
 * image run.
 *
 *   npm run build:site [-- OUT_DIR]     default dist/site
 */
import { chmod, copyFile, cp, mkdir, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { viewerRequestPath } from '#lib/cdn/viewer-request.ts';
import { esmRequireBanner } from '../layers/shared-deps/function-bundle.ts';

const repo = fileURLToPath(new URL('..', import.meta.url));

/** The one package the site package carries as files (below). */
export const PATCH_DECODER = '@bokuweb/zstd-wasm';

export interface SitePackage {
  readonly file: string;
  readonly bytes: number;
  /** The repository's top-level folders the bundle was built from (what a container build must copy). */
  readonly sourceFolders: readonly string[];
}

export async function buildSite(outDir: string): Promise<SitePackage> {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const file = join(outDir, 'signet.mjs');
  const { metafile } = await build({
    entryPoints: [join(repo, 'cli/site.ts')],
    outfile: file,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    minify: true,
    mainFields: ['module', 'main'],
    banner: { js: `#!/usr/bin/env node\n${esmRequireBanner}` },
    legalComments: 'linked',
    logLevel: 'error',
    metafile: true,
  });
  await chmod(file, 0o755);
  await copyFile(viewerRequestPath, join(outDir, 'viewer-request.js'));
  // The agent's patch decoder (agent/patch.ts) loads in a worker thread and reads its .wasm
  // from its own folder, so it is not bundled: it sits beside the bundle, where the
  // bundle's module resolution finds it. Without it the agent downloads whole files.
  // Its exports map names only its entry (dist/common/index.node.js): the package root is two folders up.
  const decoder = resolve(dirname(createRequire(import.meta.url).resolve(PATCH_DECODER)), '../..');
  const decoderOut = join(outDir, 'node_modules', PATCH_DECODER);
  for (const part of ['package.json', 'README.md', 'dist/common']) await cp(join(decoder, part), join(decoderOut, part), { recursive: true });
  const sourceFolders = [...new Set(Object.keys(metafile.inputs).flatMap((input) => (input.startsWith('node_modules/') || !input.includes('/') ? [] : [input.slice(0, input.indexOf('/'))])))];
  return { file, bytes: (await stat(file)).size, sourceFolders: sourceFolders.sort() };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { file, bytes } = await buildSite(resolve(process.argv[2] ?? join(repo, 'dist/site')));
  console.log(`wrote ${file}: ${(bytes / 1e6).toFixed(1)} MB (run: node ${file} mirror serve --help)`);
}
