/**
 * What a site installs: the site package (npm run build:site, one file that needs nothing
 * but Node, and the patch decoder beside it) and the systemd units of deploy/systemd. The
 * package runs from a folder with no node_modules but the decoder it carries, configured
 * the way the units configure it (their environment files, the license key as a credential file); the units pass `systemd-analyze verify` and name
 * only flags and variables the package has.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { baseRecordCount, versionRecords } from '../../bench/signature-db.ts';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SitePackage } from '../../deploy/build-site.ts';
import { PATCH_DECODER, buildSite } from '../../deploy/build-site.ts';
import { publishVersion } from '#test/support/delivery.ts';
import { createTestLicense } from '#test/support/licensing.ts';
import type { RunningSignet } from '#test/support/cli.ts';
import { runSignet, startSignetMirror } from '#test/support/cli.ts';

const stack = inject('stack');
const root = join(stack.dataDir, 'root.json');
const product = `site-${Date.now().toString(36)}-av`;
const units = new URL('../../deploy/systemd/', import.meta.url);
const systemdAnalyze = '/usr/bin/systemd-analyze';
const zstdInstalled = await promisify(execFile)('zstd', ['--version']).then(() => true, () => false);
let work: string;
let site: SitePackage;
let bin: string;
let licenseFile: string;
const running: RunningSignet[] = [];

/** The KEY=VALUE lines of an environment file, as systemd's EnvironmentFile= reads them. */
async function environmentFile(name: string): Promise<Record<string, string>> {
  const text = await readFile(new URL(name, units), 'utf8');
  return Object.fromEntries(text.split('\n').flatMap((line) => (/^[A-Z_]+=/.test(line) ? [[line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]] : [])));
}

/** The environment a unit's process starts with: a bare PATH, its file's settings, the unit's own. */
const baseEnv = { PATH: process.env.PATH ?? '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

beforeAll(async () => {
  // Outside the repository: nothing to resolve a module from but the package itself.
  work = await mkdtemp(join(tmpdir(), 'signet-site-'));
  site = await buildSite(join(work, 'opt-signet'));
  bin = site.file;
  licenseFile = join(work, 'license.key');
  await publishVersion(product, '2.0.0', { 'main.sig': 'site\n' }, ['--channel', 'stable']);
  await writeFile(licenseFile, `${(await createTestLicense({ products: [product], seats: 60 })).licenseKey}\n`, { mode: 0o600 });
}, 120_000);

afterAll(async () => {
  for (const server of running) await server.stop().catch(() => undefined);
  await rm(work, { recursive: true, force: true });
});

describe('the site package', () => {
  it('runs a mirror and an agent behind it with nothing but Node, configured as the units configure them', async () => {
    const mirrorEnv = {
      ...baseEnv,
      ...(await environmentFile('mirror.env.example')),
      SIGNET_MIRROR_UPSTREAM: stack.baseUrl,
      SIGNET_MIRROR_HOST: '127.0.0.1',
      SIGNET_MIRROR_PORT: '0',
      SIGNET_MIRROR_DIR: join(work, 'var-lib-signet-mirror'),
      SIGNET_ROOT: root,
      SIGNET_LICENSE_FILE: licenseFile,
    };
    const mirror = await startSignetMirror([], mirrorEnv, 30_000, bin);
    running.push(mirror);
    expect(mirror.output()).toContain('last sync: ok');

    const agentEnv = { ...baseEnv, ...(await environmentFile('agent.env.example')), SIGNET_SERVER: mirror.baseUrl, SIGNET_PRODUCT: product, SIGNET_ROOT: root, SIGNET_LICENSE_FILE: licenseFile };
    const installed = await runSignet(['agent', 'update', '--dir', join(work, 'var-lib-signet-agent')], agentEnv, 60_000, bin);
    expect(installed.stderr).toBe('');
    expect(installed.stdout).toMatch(/installed 2\.0\.0/);
    expect(await readFile(join(work, 'var-lib-signet-agent', 'current', 'main.sig'), 'utf8')).toBe('site\n');
    expect(await mirror.stop()).toBe(0);
  });
});

describe('the patch decoder in the site package', () => {
  it('sits beside the bundle, where the bundle resolves it, with its wasm', async () => {
    const resolved = createRequire(bin).resolve(PATCH_DECODER);
    expect(resolved.startsWith(join(work, 'opt-signet', 'node_modules'))).toBe(true);
    expect(existsSync(join(dirname(resolved), 'zstd.wasm'))).toBe(true);
  });

  it.skipIf(!zstdInstalled)('is what the bundled agent applies a binary patch with', async () => {
    const patched = `${product}-patch`;
    const database = (v: number) => [...versionRecords(5, baseRecordCount(5, 100_000), v)].map((r) => `${r}\n`).join('');
    await publishVersion(patched, '1.0.0', { 'main.ndb': database(0) }, ['--channel', 'stable']);
    const { licenseKey } = await createTestLicense({ products: [patched], seats: 2 });
    const dir = join(work, 'patch-agent');
    const first = await runSignet(['agent', 'update', '--server', stack.baseUrl, '--license', licenseKey, '--product', patched, '--dir', dir, '--root', root], baseEnv, 60_000, bin);
    expect(first.code, first.stderr).toBe(0);
    await publishVersion(patched, '1.1.0', { 'main.ndb': database(1) }, ['--channel', 'stable']);
    const second = await runSignet(['agent', 'update', '--dir', dir], baseEnv, 60_000, bin);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/installed 1\.1\.0 .*0 downloaded .*1 from patches/);
    expect(await readFile(join(dir, 'current', 'main.ndb'), 'utf8')).toBe(database(1));
  });
});

describe('the container image (deploy/mirror.Dockerfile)', () => {
  // No container engine here to build it: its build stage must at least copy every folder the package is built from.
  it('copies every source folder of the site package into its build stage', async () => {
    const dockerfile = await readFile(new URL('../../deploy/mirror.Dockerfile', import.meta.url), 'utf8');
    const copied = new Set([...dockerfile.matchAll(/^COPY (\S+) \1$/gm)].map((m) => m[1]));
    expect(site.sourceFolders).toContain('mirror');
    for (const folder of [...site.sourceFolders, 'deploy', 'layers']) expect([...copied], folder).toContain(folder);
  });
});

describe.skipIf(!existsSync(systemdAnalyze))('the systemd units (deploy/systemd)', () => {
  const unitNames = ['signet-mirror.service', 'signet-agent.service'];

  it('pass systemd-analyze verify, run as the site package puts them, and keep their exposure low', async () => {
    const run = promisify(execFile);
    for (const name of unitNames) {
      // Where the install puts node and the package, here: verify checks that ExecStart's program exists.
      const text = (await readFile(new URL(name, units), 'utf8')).replace('/usr/bin/node', process.execPath).replace('/opt/signet/signet.mjs', bin);
      const unit = join(work, name);
      await writeFile(unit, text);
      const verified = await run(systemdAnalyze, ['verify', unit]);
      expect(verified.stderr).toBe('');
      // Exposure 0 (locked down) to 10 (unprotected), as `systemd-analyze security` scores it: at most 2.0.
      await expect(run(systemdAnalyze, ['security', '--offline=true', '--threshold=20', unit])).resolves.toBeDefined();
    }
  });

  it('name only flags and variables the package has', async () => {
    const commands: Record<string, { files: string[]; help: string[] }> = {
      'signet-mirror.service': { files: ['signet-mirror.service', 'mirror.env.example'], help: ['mirror', 'serve', '--help'] },
      'signet-agent.service': { files: ['signet-agent.service', 'agent.env.example'], help: ['agent', 'update', '--help'] },
    };
    for (const { files, help } of Object.values(commands)) {
      // One line per flag, however the help wraps.
      const stdout = (await runSignet(help, baseEnv, 30_000, bin)).stdout.replace(/\s+/g, ' ');
      const text = (await Promise.all(files.map((file) => readFile(new URL(file, units), 'utf8')))).join('\n');
      const variables = new Set(text.match(/\bSIGNET_[A-Z_]+/g));
      expect(variables.size).toBeGreaterThan(3);
      for (const variable of variables) expect(stdout, variable).toMatch(new RegExp(`env:? ${variable}\\b`));
      const execStart = /^ExecStart=\S+ \S+ (.*)$/m.exec(text)?.[1] ?? '';
      for (const flag of execStart.match(/--[a-z-]+/g) ?? []) expect(stdout, flag).toContain(flag);
    }
  });
});
