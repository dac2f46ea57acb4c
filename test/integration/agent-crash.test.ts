/**
 * `signet agent update` killed (SIGKILL, as a crash or a power cut) at each moment around
 * the switch of `current` (agent/test-hooks.ts), then run again: the state ends up
 * describing what `current` holds, the installed set is complete and verified, the old
 * one is gone, and the server counts exactly one `ok` report of the install.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AgentState } from '../../agent/index.ts';
import { publishVersion } from '#test/support/delivery.ts';
import { runSignet } from '#test/support/cli.ts';
import { admin, createTestLicense, stackInfo } from '#test/support/licensing.ts';

const env = { ...process.env, HTTP_PROXY: '', HTTPS_PROXY: '', http_proxy: '', https_proxy: '' };
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const v1 = { 'engine.cfg': 'engine 1\n', 'main.sig': randomBytes(200_000).toString('base64'), 'daily.sig': 'daily 1\n' };
const v2 = { ...v1, 'engine.cfg': 'engine 2\n', 'daily.sig': `daily 2 ${randomBytes(50_000).toString('base64')}\n` };

const readAgentState = async (dir: string) => JSON.parse(await readFile(join(dir, 'agent-state.json'), 'utf8')) as AgentState;

async function setFiles(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(join(dir, 'current'))).sort()) out[name] = await readFile(join(dir, 'current', name), 'utf8');
  return out;
}

/** The fleet's counters of the product's versions, by version. */
async function counters(product: string): Promise<Record<string, { agents: number; ok: number; failed: number }>> {
  const fleet = await (await admin()).call<{ versions: Array<{ version: string; agents: number; ok: number; failed: number }> }>('GET', `/v1/admin/fleet/${product}`);
  return Object.fromEntries(fleet.versions.map((v) => [v.version, { agents: v.agents, ok: v.ok, failed: v.failed }]));
}

/** A product of its own with 1.0.0 installed by a registered agent, and 1.1.0 published after. */
async function agentBehindOneVersion(): Promise<{ product: string; dir: string }> {
  const product = `agent-crash-${randomBytes(3).toString('hex')}`;
  const { baseUrl, dataDir } = stackInfo();
  const { licenseKey } = await createTestLicense({ products: [product], seats: 1 });
  await publishVersion(product, '1.0.0', v1, ['--channel', 'stable']);
  const dir = await mkdtemp(join(tmpdir(), 'signet-agent-crash-'));
  dirs.push(dir);
  const registered = await runSignet(['agent', 'register', '--server', baseUrl, '--root', join(dataDir, 'root.json'), '--license', licenseKey, '--product', product, '--dir', dir, '--machine-id', `m-${randomUUID()}`], env);
  expect(registered.code, registered.stderr).toBe(0);
  const first = await runSignet(['agent', 'update', '--dir', dir, '--json'], env);
  expect(first.code, first.stderr).toBe(0);
  expect(JSON.parse(first.stdout)).toMatchObject({ result: 'installed', version: '1.0.0' });
  await publishVersion(product, '1.1.0', v2, ['--channel', 'stable']);
  return { product, dir };
}

/** Runs `agent update` that kills itself at `moment`; checks it died by the signal, not by an exit. */
async function updateKilledAt(dir: string, moment: string): Promise<void> {
  const killed = await runSignet(['agent', 'update', '--dir', dir, '--json'], { ...env, SIGNET_TEST_KILL_AT: moment });
  expect(killed.code, `it was to be killed ${moment}; stderr: ${killed.stderr}`).toBeNull();
  expect(killed.stdout).toBe('');
}

/** After the run that recovers: state == current, the 1.1.0 set whole, nothing else left, one ok report of 1.1.0. */
async function expectRecovered(product: string, dir: string): Promise<void> {
  const state = await readAgentState(dir);
  expect(state.installed?.version).toBe('1.1.0');
  expect(await readlink(join(dir, 'current'))).toBe(state.installed?.path);
  expect(state.pendingReport).toBeUndefined();
  expect(state.lastResult).toMatchObject({ version: '1.1.0' });
  expect(await setFiles(dir)).toEqual(v2);
  // The cleanup ran: one set, no staging, no partial, no link left over; the store holds what the set uses (3 files, its manifest).
  expect(await readdir(join(dir, 'sets'))).toEqual([state.installed?.path.slice('sets/'.length)]);
  expect((await readdir(join(dir, 'store'))).filter((f) => !f.endsWith('.partial'))).toHaveLength(4);
  expect((await readdir(dir)).filter((f) => f.startsWith('.current-'))).toEqual([]);
  const shown = await runSignet(['agent', 'status', '--dir', dir, '--json'], env);
  const installedPath = (JSON.parse(shown.stdout) as { installedPath: string }).installedPath;
  expect((await stat(installedPath)).isDirectory()).toBe(true);
  // Reached the server: the agent moved from 1.0.0 to 1.1.0, counted there by its ok report.
  expect(await counters(product)).toMatchObject({ '1.0.0': { agents: 0, ok: 0, failed: 0 }, '1.1.0': { agents: 1, ok: 1, failed: 0 } });
  // Another run has nothing to finish and nothing to report.
  const again = await runSignet(['agent', 'update', '--dir', dir], env);
  expect(again.code, again.stderr).toBe(0);
  expect(again.stdout.trim()).toBe('up to date (1.1.0)');
  expect((await counters(product))['1.1.0']).toEqual({ agents: 1, ok: 1, failed: 0 });
}

describe('signet agent update killed around the switch, then run again', () => {
  it('killed before the switch: the old set stays installed and described; the next run installs 1.1.0', { timeout: 240_000 }, async () => {
    const { product, dir } = await agentBehindOneVersion();
    const before = await readlink(join(dir, 'current'));
    await updateKilledAt(dir, 'before-switch');
    expect(await readlink(join(dir, 'current'))).toBe(before);
    expect((await readAgentState(dir)).installed?.path).toBe(before);
    expect((await counters(product))['1.1.0']).toBeUndefined();

    const next = await runSignet(['agent', 'update', '--dir', dir, '--json'], env);
    expect(next.code, next.stderr).toBe(0);
    expect(JSON.parse(next.stdout)).toMatchObject({ result: 'installed', version: '1.1.0', previousVersion: '1.0.0', downloadedFiles: 0 });
    await expectRecovered(product, dir);
  });

  it('killed after the switch, before the state write: the next run rebuilds the state from current, verified, and reports once', { timeout: 240_000 }, async () => {
    const { product, dir } = await agentBehindOneVersion();
    const before = await readlink(join(dir, 'current'));
    await updateKilledAt(dir, 'after-switch');
    // The moment it was killed: current names the new set, the state the old one.
    const switched = await readlink(join(dir, 'current'));
    expect(switched).not.toBe(before);
    expect(switched).toMatch(/^sets\/1\.1\.0-[0-9a-f]{8}$/);
    expect((await readAgentState(dir)).installed).toMatchObject({ version: '1.0.0', path: before });
    expect((await counters(product))['1.1.0']).toBeUndefined();

    const next = await runSignet(['agent', 'update', '--dir', dir, '--json'], env);
    expect(next.code, next.stderr).toBe(0);
    expect(JSON.parse(next.stdout)).toMatchObject({ result: 'up-to-date', version: '1.1.0' });
    expect(next.stderr).toMatch(/current holds 1\.1\.0, which the state did not say .*: the state now says it, verified/);
    expect((await readAgentState(dir)).installed?.path).toBe(switched);
    await expectRecovered(product, dir);
  });

  it('killed after the state write, before the cleanup: the next run removes the old set and reports once', { timeout: 240_000 }, async () => {
    const { product, dir } = await agentBehindOneVersion();
    await updateKilledAt(dir, 'after-state');
    const state = await readAgentState(dir);
    expect(state).toMatchObject({ installed: { version: '1.1.0', path: await readlink(join(dir, 'current')) }, pendingReport: { version: '1.1.0' } });
    expect(await readdir(join(dir, 'sets'))).toHaveLength(2);

    const next = await runSignet(['agent', 'update', '--dir', dir, '--json'], env);
    expect(next.code, next.stderr).toBe(0);
    expect(JSON.parse(next.stdout)).toMatchObject({ result: 'up-to-date', version: '1.1.0' });
    await expectRecovered(product, dir);
  });

  it('killed after the cleanup, before the report: the next run sends the report, once', { timeout: 240_000 }, async () => {
    const { product, dir } = await agentBehindOneVersion();
    await updateKilledAt(dir, 'after-cleanup');
    expect(await readAgentState(dir)).toMatchObject({ installed: { version: '1.1.0' }, pendingReport: { version: '1.1.0' } });
    expect(await readdir(join(dir, 'sets'))).toHaveLength(1);
    expect((await counters(product))['1.1.0']).toBeUndefined();

    const next = await runSignet(['agent', 'update', '--dir', dir, '--json'], env);
    expect(next.code, next.stderr).toBe(0);
    expect(JSON.parse(next.stdout)).toMatchObject({ result: 'up-to-date', version: '1.1.0' });
    await expectRecovered(product, dir);
  });

  it('killed after the switch, with a file of current changed since: the state does not take it as installed; the next run installs 1.1.0 again', { timeout: 240_000 }, async () => {
    const { product, dir } = await agentBehindOneVersion();
    await updateKilledAt(dir, 'after-switch');
    const switched = await readlink(join(dir, 'current'));
    // A new file in the file's place (its store entry, hard-linked, stays as it was).
    await rm(join(dir, 'current', 'engine.cfg'));
    await writeFile(join(dir, 'current', 'engine.cfg'), 'engine 2 tampered\n');

    const next = await runSignet(['agent', 'update', '--dir', dir, '--json'], env);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toMatch(/current \(sets\/1\.1\.0-[0-9a-f]{8}\) is not what the state says and does not verify \(.*engine\.cfg does not match the signed targets metadata\): installing again/);
    expect(JSON.parse(next.stdout)).toMatchObject({ result: 'installed', version: '1.1.0' });
    expect(await readlink(join(dir, 'current'))).not.toBe(switched);
    await expectRecovered(product, dir);
  });
});
