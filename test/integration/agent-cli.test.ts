/** `signet agent register|update|status` as a user runs them, against the shared local stack. */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runSignet, signetBin } from '#test/support/cli.ts';
import { createTestLicense, stackInfo } from '#test/support/licensing.ts';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const env = { ...process.env, HTTP_PROXY: '', HTTPS_PROXY: '', http_proxy: '', https_proxy: '' };

describe('signet agent', () => {
  it('registers with the root of --data-dir, installs, reports up to date, and shows its status', async () => {
    const { dataDir } = stackInfo();
    const { licenseKey } = await createTestLicense({ products: ['demo-av'], seats: 2 });
    const dir = await mkdtemp(join(tmpdir(), 'signet-agent-cli-'));
    dirs.push(dir);
    const machine = `m-${randomUUID()}`;
    const registered = await runSignet(['agent', 'register', '--data-dir', dataDir, '--license', licenseKey, '--product', 'demo-av', '--dir', dir, '--machine-id', machine, '--json'], env);
    expect(registered.stderr).toBe('');
    expect(registered.code).toBe(0);
    expect(JSON.parse(registered.stdout)).toMatchObject({ product: 'demo-av', machineId: machine });

    const first = await runSignet(['agent', 'update', '--dir', dir, '--json'], env);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ result: 'installed', version: '1.0.0' });
    const second = await runSignet(['agent', 'update', '--dir', dir], env);
    expect(second.stdout.trim()).toBe('up to date (1.0.0)');

    const shown = await runSignet(['agent', 'status', '--dir', dir, '--json'], env);
    expect(JSON.parse(shown.stdout)).toMatchObject({ registered: true, installedVersion: '1.0.0', machineId: machine });
    expect(shown.stdout).not.toContain(licenseKey);
    expect((await stat(join(dir, 'agent-state.json'))).mode & 0o777).toBe(0o600);
    expect((await readdir(join(dir, 'current'))).length).toBeGreaterThan(0);
  });

  it('fails on one line with the reason: no agent in the dir, a wrong license', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'signet-agent-cli-'));
    dirs.push(dir);
    const none = await runSignet(['agent', 'update', '--dir', dir], env);
    expect(none.code).toBe(1);
    expect(none.stderr.trim().split('\n')[0]).toMatch(/^signet: NOT_REGISTERED: no agent in .* run `signet agent register` first$/);

    const { dataDir } = stackInfo();
    const wrong = await runSignet(['agent', 'register', '--data-dir', dataDir, '--license', 'SIG-NOPE1-NOPE2-NOPE3-NOPE4-NOPE5-NOPE6-NO', '--product', 'demo-av', '--dir', dir], env);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^signet: LICENSE_INVALID: /);
  });

  it('update with --server, --license and --product registers first in an empty dir and installs; run again, with or without them, it is up to date without registering again', async () => {
    const { baseUrl, dataDir } = stackInfo();
    const { licenseKey } = await createTestLicense({ products: ['demo-av'], seats: 1 });
    const dir = await mkdtemp(join(tmpdir(), 'signet-agent-cli-'));
    dirs.push(dir);
    const machine = `m-${randomUUID()}`;
    const oneCommand = ['agent', 'update', '--server', baseUrl, '--license', licenseKey, '--product', 'demo-av', '--dir', dir, '--data-dir', dataDir, '--machine-id', machine];

    const first = await runSignet([...oneCommand, '--json'], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const installed = JSON.parse(first.stdout) as { result: string; version: string; downloadedBytes: number; registered: { agentId: string; machineId: string } };
    expect(installed).toMatchObject({ result: 'installed', version: '1.0.0', registered: { machineId: machine } });
    expect(installed.downloadedBytes).toBeGreaterThan(0);

    const token = async () => (JSON.parse(await readFile(join(dir, 'agent-state.json'), 'utf8')) as { token: string }).token;
    const tokenAfterInstall = await token();
    const plain = await runSignet(['agent', 'update', '--dir', dir], env);
    expect(plain.code).toBe(0);
    expect(plain.stdout.trim()).toBe('up to date (1.0.0)');
    // The same one command, as a scheduler would run it: no second registration (which would issue a new token).
    const again = await runSignet(oneCommand, env);
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe('up to date (1.0.0)');
    expect(await token()).toBe(tokenAfterInstall);
  });

  it('update refuses, in one line, registration flags that name another server or license than the agent in the dir', async () => {
    const { baseUrl, dataDir } = stackInfo();
    const { licenseKey } = await createTestLicense({ products: ['demo-av'], seats: 1 });
    const dir = await mkdtemp(join(tmpdir(), 'signet-agent-cli-'));
    dirs.push(dir);
    expect((await runSignet(['agent', 'register', '--data-dir', dataDir, '--license', licenseKey, '--product', 'demo-av', '--dir', dir], env)).code).toBe(0);

    const otherServer = await runSignet(['agent', 'update', '--server', 'http://127.0.0.1:9', '--license', licenseKey, '--product', 'demo-av', '--dir', dir], env);
    expect(otherServer.code).toBe(1);
    expect(otherServer.stderr.trim().split('\n')).toEqual([`signet: ${dir} holds an agent for server ${baseUrl}: use another --dir, or \`signet agent register\` to re-register this one on purpose`]);
    const otherLicense = await runSignet(['agent', 'update', '--server', baseUrl, '--license', 'SIG-NOPE1-NOPE2-NOPE3-NOPE4-NOPE5-NOPE6-NO', '--product', 'demo-av', '--dir', dir], env);
    expect(otherLicense.code).toBe(1);
    expect(otherLicense.stderr.trim()).toMatch(/^signet: .* holds an agent for another license key: /);
    expect(otherLicense.stderr).not.toContain(licenseKey);

    const shown = JSON.parse((await runSignet(['agent', 'status', '--dir', dir, '--json'], env)).stdout) as { server: string; installedVersion?: string };
    expect(shown).toMatchObject({ server: baseUrl });
    expect(shown.installedVersion).toBeUndefined();
  });

  it('update in an empty dir with only some registration flags says which are missing, in one line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'signet-agent-cli-'));
    dirs.push(dir);
    const result = await runSignet(['agent', 'update', '--server', stackInfo().baseUrl, '--product', 'demo-av', '--dir', dir], env);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(`signet: no agent in ${dir} yet: to register first, update needs --license KEY and --product P too (and --server URL or --data-dir)`);
  });

  it('--daemon polls until SIGTERM and exits 0', async () => {
    const { dataDir } = stackInfo();
    const { licenseKey } = await createTestLicense({ products: ['demo-av'], seats: 1 });
    const dir = await mkdtemp(join(tmpdir(), 'signet-agent-cli-'));
    dirs.push(dir);
    expect((await runSignet(['agent', 'register', '--data-dir', dataDir, '--license', licenseKey, '--product', 'demo-av', '--dir', dir], env)).code).toBe(0);
    const child = spawn(process.execPath, [signetBin, 'agent', 'update', '--dir', dir, '--daemon', '--json'], { env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const deadline = Date.now() + 30_000;
    while (!out.includes('"installed"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(JSON.parse(out.trim().split('\n')[0] ?? '{}')).toMatchObject({ result: 'installed', version: '1.0.0' });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
