/**
 * `signet mirror` as an operator runs it: serve (in the foreground, stopped by SIGTERM),
 * status, export on a connected mirror, import on an isolated one, an agent installing
 * from the isolated one with the agent CLI; and each operator mistake answered in one line.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { publishVersion } from '#test/support/delivery.ts';
import { createTestLicense } from '#test/support/licensing.ts';
import type { RunningSignet } from '#test/support/cli.ts';
import { runSignet, startSignetMirror } from '#test/support/cli.ts';

const stack = inject('stack');
const root = join(stack.dataDir, 'root.json');
const product = `mcli-${Date.now().toString(36)}-av`;
// No proxy from the environment, no debug output: what an operator's shell would give.
const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
let work: string;
let licenseKey: string;
const running: RunningSignet[] = [];

async function serve(args: string[], more: NodeJS.ProcessEnv = {}): Promise<RunningSignet> {
  const server = await startSignetMirror(['--host', '127.0.0.1', '--port', '0', '--quiet', ...args], { ...env, ...more });
  running.push(server);
  return server;
}

/** One line on stderr, starting `signet: `, exit 1. */
function expectOneLineFailure(result: { code: number | null; stderr: string }, says: RegExp): void {
  expect(result.code).toBe(1);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(/^signet: /);
  expect(result.stderr).toMatch(says);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'signet-mirror-cli-'));
  await publishVersion(product, '3.1.0', { 'main.sig': 'cli\n' }, ['--channel', 'stable']);
  licenseKey = (await createTestLicense({ products: [product], seats: 10 })).licenseKey;
});

afterAll(async () => {
  for (const server of running) await server.stop().catch(() => undefined);
  await rm(work, { recursive: true, force: true });
});

describe('signet mirror', () => {
  it('serves, exports, imports and stops on SIGTERM, as an operator runs it', async () => {
    const connectedDir = join(work, 'connected');
    const isolatedDir = join(work, 'isolated');
    // Configured as the systemd unit and the container configure it: the environment, and the key from a credential file.
    const keyFile = join(work, 'license.key');
    await writeFile(keyFile, `${licenseKey}\n`, { mode: 0o600 });
    const connected = await serve([], { SIGNET_MIRROR_UPSTREAM: stack.baseUrl, SIGNET_LICENSE_FILE: keyFile, SIGNET_MIRROR_SEATS: '2', SIGNET_ROOT: root, SIGNET_MIRROR_DIR: connectedDir });
    expect(connected.output()).toContain('last sync: ok');
    const isolated = await serve(['--root', root, '--data-dir', isolatedDir]);
    expect(isolated.output()).toContain('no upstream (serves what is imported)');

    const status = await runSignet(['mirror', 'status', '--data-dir', isolatedDir, '--json'], env);
    expect(status.code).toBe(0);
    const isolatedId = (JSON.parse(status.stdout) as { mirrorId: string }).mirrorId;
    expect(isolatedId).toMatch(/^[0-9a-f]{32}$/);
    const connectedStatus = await runSignet(['mirror', 'status', '--data-dir', connectedDir], env);
    expect(connectedStatus.stdout).toMatch(/lease +license \S+, 0\/2 seats/);
    expect(connectedStatus.stdout).toContain(`${product} 3.1.0`);
    // The license key stays in the data dir: status never prints it.
    expect(connectedStatus.stdout).not.toContain(licenseKey);

    const bundle = join(work, 'segment.bundle');
    const exported = await runSignet(['mirror', 'export', '--data-dir', connectedDir, '--out', bundle, '--for', isolatedId, '--seats', '3', '--valid-days', '5'], env);
    expect(exported.stderr).toBe('');
    expect(exported.stdout).toMatch(/^wrote .*segment\.bundle: [\d.]+ MB, 2 files;/);
    const imported = await runSignet(['mirror', 'import', bundle, '--data-dir', isolatedDir], env);
    expect(imported.stdout).toMatch(/^imported .*: mcli-\S+ 3\.1\.0; 2 new files/);
    expect(imported.stdout).toMatch(/metadata valid until \S+, lease until \S+/);

    // The serving process takes up the import by itself (it looks every 2 s). Until then it
    // answers 503 with a Retry-After the agent would honour, so wait until its health check says it serves.
    await expect.poll(async () => (await fetch(`${isolated.baseUrl}/v1/health`)).status, { timeout: 15_000, interval: 250 }).toBe(200);
    const agentDir = join(work, 'agent');
    const installed = await runSignet(['agent', 'update', '--server', isolated.baseUrl, '--license', licenseKey, '--product', product, '--dir', agentDir, '--root', root], env);
    expect(installed.stdout).toMatch(/installed 3\.1\.0/);

    expect(await isolated.stop()).toBe(0);
    expect(isolated.output()).toContain('signet mirror: stopped');
    expect(await connected.stop('SIGINT')).toBe(0);
  });

  it('answers each mistake before a mirror exists in one line that says what to do', async () => {
    const empty = join(work, 'empty');
    expectOneLineFailure(await runSignet(['mirror', 'status', '--data-dir', empty], env), /holds no mirror: start one with signet mirror serve/);
    expectOneLineFailure(await runSignet(['mirror', 'serve', '--data-dir', empty, '--port', '0'], env), /no trusted root: pass --root FILE/);
    expectOneLineFailure(await runSignet(['mirror', 'serve', '--data-dir', empty, '--port', '70000', '--root', root], env), /--port/);
    expectOneLineFailure(await runSignet(['mirror', 'serve', '--data-dir', empty, '--upstream', 'not a url', '--root', root], env), /--upstream: not a URL/);
    expectOneLineFailure(await runSignet(['mirror', 'serve', '--data-dir', empty, '--tls-cert', 'x.pem', '--root', root], env), /--tls-cert and --tls-key go together/);
    expectOneLineFailure(await runSignet(['mirror', 'import', join(work, 'nothing.bundle'), '--data-dir', empty], env), /holds no mirror/);
    expectOneLineFailure(await runSignet(['mirror', 'export', '--out', join(work, 'x.bundle'), '--for', 'xyz', '--seats', '1', '--data-dir', empty], env), /--for: the isolated mirror's id/);
  });

  it('answers each mistake about a mirror that exists in one line too', async () => {
    const dir = join(work, 'mistakes');
    const first = await serve(['--root', root, '--data-dir', dir]);
    const port = new URL(first.baseUrl).port;
    expectOneLineFailure(await runSignet(['mirror', 'serve', '--data-dir', join(work, 'second'), '--root', root, '--host', '127.0.0.1', '--port', port], env), new RegExp(`port ${port} on 127.0.0.1 is already in use: pass --port N`));
    expectOneLineFailure(await runSignet(['mirror', 'import', join(work, 'nothing.bundle'), '--data-dir', dir], env), /cannot read .*nothing\.bundle/);
    const junk = join(work, 'junk.bundle');
    await writeFile(junk, 'not a bundle at all, just text\n');
    expectOneLineFailure(await runSignet(['mirror', 'import', junk, '--data-dir', dir], env), /cut short or not a bundle/);
    expectOneLineFailure(await runSignet(['mirror', 'export', '--out', join(work, 'y.bundle'), '--for', 'a'.repeat(32), '--seats', '1', '--data-dir', dir], env), /export needs the upstream/);
    expectOneLineFailure(await runSignet(['mirror', 'serve', '--data-dir', join(work, 'third'), '--root', root, '--license', 'k', '--license-file', 'f'], env), /--license and --license-file: give one/);
    expectOneLineFailure(await runSignet(['mirror', 'serve', '--data-dir', join(work, 'third'), '--root', root, '--license-file', join(work, 'no.key')], env), /cannot read the license file/);
    expectOneLineFailure(await runSignet(['mirror', 'export', '--reports', '--out', join(work, 'r.json'), '--data-dir', dir], env), /has taken no bundle yet/);
    await first.stop();
  });
});
