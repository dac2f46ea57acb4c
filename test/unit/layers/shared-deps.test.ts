import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleFunction } from '../../../layers/shared-deps/function-bundle.ts';
import { buildSharedDepsLayer, sharedDepsLayerCode, sharedDepsPackages } from '../../../layers/shared-deps/layer.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

let work: string;
let layerDir: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'signet-layer-test-'));
  layerDir = path.join(work, 'layer');
  await buildSharedDepsLayer(layerDir);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function fileHashes(root: string): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {};
  const walk = async (dir: string): Promise<void> => {
    for (const item of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, item.name);
      if (item.isDirectory()) await walk(full);
      else hashes[path.relative(root, full)] = createHash('sha256').update(await readFile(full)).digest('hex');
    }
  };
  await walk(root);
  return hashes;
}

/**
 * Lays out a function the way Lambda resolves it: the bundle in `task/`, and (when
 * `withLayer`) the layer's `nodejs/node_modules` in the folder above, where Node's own
 * lookup finds it as Lambda's finds /opt/nodejs/node_modules.
 */
async function deployHealth(name: string, withLayer: boolean): Promise<string> {
  const root = path.join(work, name);
  const task = path.join(root, 'task');
  await bundleFunction(path.join(repoRoot, 'functions/health/index.ts'), path.join(task, 'index.mjs'), {
    external: sharedDepsPackages,
  });
  if (withLayer) await cp(path.join(layerDir, 'nodejs', 'node_modules'), path.join(root, 'node_modules'), { recursive: true });
  await writeFile(
    path.join(task, 'probe.mjs'),
    `
const resolved = Object.fromEntries(${JSON.stringify(sharedDepsPackages)}.map((s) => [s, import.meta.resolve(s)]));
const { handler } = await import('./index.mjs');
const context = { awsRequestId: 'req-1', getRemainingTimeInMillis: () => 5000 };
const result = typeof handler === 'function' ? await handler({ rawPath: '/v1/health' }, context) : undefined;
console.log(JSON.stringify({ handlerType: typeof handler, resolved, result }));
`,
  );
  return task;
}

function runProbe(task: string) {
  return spawnSync(process.execPath, [path.join(task, 'probe.mjs')], {
    cwd: task,
    encoding: 'utf8',
    timeout: 30_000,
    env: {
      PATH: process.env.PATH,
      NODE_OPTIONS: '',
      SIGNET_TABLE_MAIN: 'signet-main',
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      // Nothing listens there: the call fails fast, and the handler must map that to 503.
      AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9',
    },
  });
}

describe('shared-deps layer', () => {
  it('lays out each provided package under nodejs/node_modules with exports for its subpaths', async () => {
    for (const specifier of sharedDepsPackages) {
      const packageName = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] ?? '');
      const manifest = JSON.parse(
        await readFile(path.join(layerDir, 'nodejs', 'node_modules', packageName, 'package.json'), 'utf8'),
      ) as { type: string; exports: Record<string, string> };
      const subpath = specifier === packageName ? '.' : `./${specifier.slice(packageName.length + 1)}`;

      expect(manifest.type).toBe('module');
      expect(Object.keys(manifest.exports)).toContain(subpath);
    }
  });

  it('holds no @aws-sdk package, so the runtime SDK is never shadowed', async () => {
    const top = await readdir(path.join(layerDir, 'nodejs', 'node_modules'));

    expect(top).not.toContain('@aws-sdk');
    expect(sharedDepsPackages.filter((s) => s.startsWith('@aws-sdk/'))).toEqual([]);
  });

  it('runs the health handler bundled with the layer packages external, importing them from the layer', async () => {
    const task = await deployHealth('with-layer', true);
    const bundle = await readFile(path.join(task, 'index.mjs'), 'utf8');

    const run = runProbe(task);

    expect(run.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND/);
    expect(run.status).toBe(0);
    const out = JSON.parse(run.stdout) as {
      handlerType: string;
      resolved: Record<string, string>;
      result: { statusCode: number; body: string };
    };
    expect(out.handlerType).toBe('function');
    // The import left in the bundle is what the layer satisfies, and it is the layer's copy.
    expect(bundle).toMatch(/from\s*"@middy\/core"/);
    const layerUrl = pathToFileURL(path.join(work, 'with-layer', 'node_modules')).href;
    for (const specifier of sharedDepsPackages) expect(out.resolved[specifier]?.startsWith(layerUrl)).toBe(true);
    // middy from the layer wraps the handler: the unreachable table becomes the contract's 503.
    expect(out.result.statusCode).toBe(503);
    expect(JSON.parse(out.result.body)).toMatchObject({ error: { code: 'UNAVAILABLE' } });
  });

  it('fails to load the same bundle without the layer, so the layer is what satisfies the import', async () => {
    const task = await deployHealth('without-layer', false);

    const run = runProbe(task);

    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/ERR_MODULE_NOT_FOUND/);
  });

  it('builds the same bytes twice', async () => {
    const again = path.join(work, 'layer-again');
    await mkdir(again);
    await buildSharedDepsLayer(again);

    const first = await fileHashes(layerDir);
    const second = await fileHashes(again);

    expect(Object.keys(first).length).toBeGreaterThan(0);
    expect(second).toEqual(first);
  });

  it('gives the CDK layer asset the same hash on every synth', () => {
    const synthesizeLayer = () => {
      const app = new App({ outdir: path.join(work, `cdk-${Math.random().toString(36).slice(2)}`) });
      const stack = new Stack(app, 'LayerTest');
      new LayerVersion(stack, 'SharedDeps', { code: sharedDepsLayerCode(), compatibleRuntimes: [Runtime.NODEJS_22_X] });
      const layers = Template.fromStack(stack).findResources('AWS::Lambda::LayerVersion');
      return Object.values(layers).map((r) => (r as { Properties: { Content: { S3Key: unknown } } }).Properties.Content.S3Key);
    };

    const first = synthesizeLayer();
    const second = synthesizeLayer();

    expect(first).toHaveLength(1);
    expect(second).toEqual(first);
  });
});
