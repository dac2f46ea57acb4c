import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isEarlierLayoutPath } from '#local/layout.ts';
import { runSeedSteps } from '#local/seed.ts';
import type { SeedStep } from '#local/seed.ts';

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'signet-seed-'));
});
afterEach(() => rm(dataDir, { recursive: true, force: true }));

const context = () => ({
  dataDir,
  baseUrl: 'http://127.0.0.1:1',
  log: () => undefined,
  services: (): never => {
    throw new Error('these steps use no service');
  },
});

function counting(name: string, calls: string[], fail = false): SeedStep {
  return {
    name,
    async run() {
      calls.push(name);
      if (fail) throw new Error(`${name} failed`);
    },
  };
}

describe('first-start seeding', () => {
  it('runs every step once on a new data dir and records it', async () => {
    const calls: string[] = [];
    expect(await runSeedSteps([counting('a', calls), counting('b', calls)], context())).toEqual(['a', 'b']);
    expect(await runSeedSteps([counting('a', calls), counting('b', calls)], context())).toEqual([]);
    expect(calls).toEqual(['a', 'b']);
    const record = JSON.parse(await readFile(join(dataDir, 'seeded.json'), 'utf8')) as { completed: Record<string, string> };
    expect(Object.keys(record.completed)).toEqual(['a', 'b']);
  });

  it('reruns from the step that failed, not from the start, after an interrupted start', async () => {
    const calls: string[] = [];
    await expect(runSeedSteps([counting('a', calls), counting('b', calls, true)], context())).rejects.toThrow('b failed');
    expect(await runSeedSteps([counting('a', calls), counting('b', calls)], context())).toEqual(['b']);
    expect(calls).toEqual(['a', 'b', 'b']);
  });

  it('runs a step added later once on an existing data dir', async () => {
    const calls: string[] = [];
    await runSeedSteps([counting('a', calls)], context());
    expect(await runSeedSteps([counting('a', calls), counting('new', calls)], context())).toEqual(['new']);
  });
});

describe('the earlier target layout', () => {
  it('is recognized by the hash at the start of a target basename, and only by that', () => {
    const sha = 'ab'.repeat(32);
    expect(isEarlierLayoutPath(`demo-av/${sha}.main.sig`)).toBe(true);
    expect(isEarlierLayoutPath(`demo-av/${sha}/main.sig`)).toBe(false);
    expect(isEarlierLayoutPath(`demo-av/${sha}/set-1.0.0.json`)).toBe(false);
  });
});
