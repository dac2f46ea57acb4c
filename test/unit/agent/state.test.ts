import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentState } from '../../../agent/state.ts';
import { readState, statePath, updateState, writeFileAtomic, writeState } from '../../../agent/state.ts';

const base: AgentState = { schema: 1, server: 'http://x', product: 'p', machineId: 'm', licenseKey: 'SIG-SECRET', trustedRoot: 'trusted-root.json' };

describe('agent state file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'signet-agent-state-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is written with mode 0600 (it holds the token and the license key) and read back', async () => {
    await writeState(dir, { ...base, token: 'sgt1.secret' });
    expect((await stat(statePath(dir))).mode & 0o777).toBe(0o600);
    expect(await readState(dir)).toEqual({ ...base, token: 'sgt1.secret' });
  });

  it('is absent before the first write; updates merge and drop undefined fields', async () => {
    expect(await readState(dir)).toBeUndefined();
    await writeState(dir, { ...base, stopped: { code: 'AGENT_REVOKED', message: 'x', at: 'now' } });
    const next = await updateState(dir, { stopped: undefined, pollSeconds: 60 });
    expect(next.stopped).toBeUndefined();
    expect(await readState(dir)).toEqual({ ...base, pollSeconds: 60 });
    expect(JSON.parse(await readFile(statePath(dir), 'utf8'))).not.toHaveProperty('stopped');
  });

  it('leaves no temporary files behind', async () => {
    for (let i = 0; i < 20; i++) await writeState(dir, { ...base, pollSeconds: i });
    expect(await readdir(dir)).toEqual(['agent-state.json']);
  });

  it('is never torn: a process killed while rewriting it in a loop leaves a whole old or new state', async () => {
    await writeState(dir, { ...base, pollSeconds: 0 });
    const script = `
      import { writeState } from ${JSON.stringify(new URL('../../../agent/state.ts', import.meta.url).href)};
      const base = ${JSON.stringify(base)};
      for (let i = 1; ; i++) await writeState(${JSON.stringify(dir)}, { ...base, pollSeconds: i, channel: 'x'.repeat(200000) });
    `;
    let seen = 0;
    for (let round = 0; round < 5; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 1200 + round * 97));
      child.kill('SIGKILL');
      await new Promise((r) => child.on('close', r));
      const state = await readState(dir);
      expect(state?.licenseKey).toBe('SIG-SECRET');
      expect(typeof state?.pollSeconds).toBe('number');
      seen = Math.max(seen, state?.pollSeconds ?? 0);
    }
    // The children did rewrite it, many times.
    expect(seen).toBeGreaterThan(1);
  });

  it('writeFileAtomic replaces a file whole with the mode asked for', async () => {
    const file = join(dir, 'root.json');
    await writeFileAtomic(file, 'one', 0o644);
    await writeFileAtomic(file, 'two', 0o644);
    expect(await readFile(file, 'utf8')).toBe('two');
    expect((await stat(file)).mode & 0o777).toBe(0o644);
  });
});
