/**
 * Builds the shared-deps layer: `<outDir>/nodejs/node_modules/<pkg>/…`, each package
 * pre-bundled and minified by esbuild as ESM, with a package.json whose `exports` map
 * exactly the subpaths the layer provides. Lambda puts it at /opt/nodejs/node_modules.
 *
 * All specifiers are built in one esbuild run with code splitting, so code two packages
 * share (their common dependencies) exists once, in `node_modules/.shared-deps/`, and
 * module identity (`instanceof`, module-level caches) holds across them.
 *
 * Run it alone: `node --import tsx layers/shared-deps/build.ts [outDir]`.
 */
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BuildOptions, Plugin } from 'esbuild';
import { build } from 'esbuild';
import { esmRequireBanner } from './function-bundle.ts';
import { sharedDepsPackages } from './packages.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const defaultLayerDir = fileURLToPath(new URL('./dist/', import.meta.url));

const ENTRY_NAMESPACE = 'shared-deps-entry';
/** Shared chunks live in a folder no package can be named like. */
const CHUNK_DIR = '.shared-deps';

interface LayerEntry {
  /** The specifier a function imports: `zod/mini`, `@middy/core`. */
  readonly specifier: string;
  /** `zod`, `@middy/core`. */
  readonly packageName: string;
  /** The `exports` key: `.`, `./mini`. */
  readonly subpath: string;
  /** Output file inside the package folder, without extension: `index`, `mini`. */
  readonly file: string;
}

function toEntry(specifier: string): LayerEntry {
  const parts = specifier.split('/');
  const nameParts = specifier.startsWith('@') ? 2 : 1;
  if (parts.length < nameParts || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new Error(`not a bare package specifier: "${specifier}"`);
  }
  const packageName = parts.slice(0, nameParts).join('/');
  const rest = parts.slice(nameParts).join('/');
  return { specifier, packageName, subpath: rest ? `./${rest}` : '.', file: rest || 'index' };
}

const commonOptions: BuildOptions = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  mainFields: ['module', 'main'],
  logLevel: 'silent',
};

/**
 * Whether esbuild sees a default export behind the specifier. Re-exporting a default
 * that does not exist is a build error, and `export *` never carries a default.
 */
async function hasDefaultExport(specifier: string): Promise<boolean> {
  try {
    await build({
      ...commonOptions,
      stdin: { contents: `export { default } from ${JSON.stringify(specifier)};`, resolveDir: repoRoot },
      write: false,
    });
    return true;
  } catch {
    return false;
  }
}

function entryPlugin(sources: ReadonlyMap<string, string>): Plugin {
  return {
    name: 'shared-deps-entries',
    setup(b) {
      b.onResolve({ filter: /.*/, namespace: 'file' }, (args) =>
        args.kind === 'entry-point' && sources.has(args.path) ? { path: args.path, namespace: ENTRY_NAMESPACE } : undefined,
      );
      b.onLoad({ filter: /.*/, namespace: ENTRY_NAMESPACE }, (args) => ({
        contents: sources.get(args.path) ?? '',
        resolveDir: repoRoot,
        loader: 'js',
      }));
    },
  };
}

/** The installed package's folder, found from the file esbuild resolved the specifier to. */
async function packageDir(entry: LayerEntry): Promise<string> {
  let resolved: string | undefined;
  await build({
    ...commonOptions,
    stdin: { contents: `import ${JSON.stringify(entry.specifier)};`, resolveDir: repoRoot },
    write: false,
    plugins: [
      {
        name: 'locate',
        setup(b) {
          b.onResolve({ filter: /.*/ }, async (args) => {
            if (args.path !== entry.specifier || args.pluginData === 'locate') return undefined;
            const result = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, pluginData: 'locate' });
            resolved = result.path;
            return { path: args.path, external: true };
          });
        },
      },
    ],
  });
  if (!resolved) throw new Error(`cannot resolve "${entry.specifier}" from ${repoRoot}`);
  for (let dir = path.dirname(resolved); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    try {
      const manifest = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (manifest.name === entry.packageName) return dir;
    } catch {
      // no package.json at this level: keep walking up
    }
  }
  throw new Error(`no package.json named "${entry.packageName}" above ${resolved}`);
}

async function writePackageManifest(nodeModules: string, packageName: string, entries: readonly LayerEntry[]): Promise<void> {
  const source = await packageDir(entries[0] as LayerEntry);
  const original = JSON.parse(await readFile(path.join(source, 'package.json'), 'utf8')) as { version?: string; license?: string };
  const exportsMap = Object.fromEntries(entries.map((e) => [e.subpath, `./${e.file}.mjs`]));
  const manifest = {
    name: packageName,
    version: original.version,
    license: original.license,
    description: 'Pre-bundled by layers/shared-deps/build.ts for the Signet shared-deps Lambda layer.',
    type: 'module',
    exports: exportsMap,
  };
  const target = path.join(nodeModules, packageName);
  await writeFile(path.join(target, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  for (const name of (await readdir(source)).sort()) {
    if (/^(licen[cs]e|notice)(\.|$)/i.test(name)) await copyFile(path.join(source, name), path.join(target, name));
  }
}

/**
 * Builds the layer content into `outDir` (`outDir/nodejs/node_modules/…`), replacing
 * what was there. Same inputs give the same bytes, so the CDK asset hash is stable.
 */
export async function buildSharedDepsLayer(outDir: string, packages: readonly string[] = sharedDepsPackages): Promise<void> {
  const entries = [...new Set(packages)].sort().map(toEntry);
  const nodeModules = path.join(outDir, 'nodejs', 'node_modules');
  await rm(path.join(outDir, 'nodejs'), { recursive: true, force: true });
  await mkdir(nodeModules, { recursive: true });
  if (entries.length === 0) return;

  const sources = new Map<string, string>();
  for (const entry of entries) {
    const spec = JSON.stringify(entry.specifier);
    const reexportDefault = (await hasDefaultExport(entry.specifier)) ? `export { default } from ${spec};\n` : '';
    sources.set(entry.specifier, `export * from ${spec};\n${reexportDefault}`);
  }

  await build({
    ...commonOptions,
    logLevel: 'error',
    entryPoints: entries.map((e) => ({ in: e.specifier, out: `${e.packageName}/${e.file}` })),
    outdir: nodeModules,
    outExtension: { '.js': '.mjs' },
    splitting: true,
    chunkNames: `${CHUNK_DIR}/[name]-[hash]`,
    minify: true,
    banner: { js: esmRequireBanner },
    plugins: [entryPlugin(sources)],
  });

  // Entries are sorted, so each package's subpaths are adjacent and packages come in order.
  const byPackage = new Map<string, LayerEntry[]>();
  for (const entry of entries) byPackage.set(entry.packageName, [...(byPackage.get(entry.packageName) ?? []), entry]);
  for (const [packageName, group] of byPackage) await writePackageManifest(nodeModules, packageName, group);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  // No top-level await: a CommonJS importer (tsx in a folder without "type": "module") must load this file too.
  const outDir = path.resolve(process.argv[2] ?? defaultLayerDir);
  buildSharedDepsLayer(outDir).then(
    () => console.log(`shared-deps layer built in ${outDir}`),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
