import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inStore, storePath } from '../../../agent/file-store.ts';
import { assembleSet, collectGarbage, currentSet, safeSetPath, switchCurrent } from '../../../agent/switch.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('install dir', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'signet-agent-install-'));
    await mkdir(join(dir, 'store'), { recursive: true });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function put(content: string): Promise<string> {
    const hash = sha(content);
    await writeFile(storePath(dir, hash), content);
    return hash;
  }

  it('refuses set paths that leave the set', () => {
    for (const bad of ['', '/etc/passwd', '../x', 'a/../../x', 'a//b', './a', 'a\\b']) expect(() => safeSetPath(bad)).toThrow(/unsafe/);
    expect(safeSetPath('rules/main.sig')).toBe(join('rules', 'main.sig'));
  });

  it('assembles a set from the store and switches `current` to it; the old set stays until then', async () => {
    const a = await put('one');
    const b = await put('two');
    const first = await assembleSet(dir, '1.0.0', [{ path: 'a.sig', sha256: a }, { path: 'sub/b.sig', sha256: b }]);
    await switchCurrent(dir, first);
    expect(await currentSet(dir)).toBe(first);
    expect(await readFile(join(dir, 'current', 'sub', 'b.sig'), 'utf8')).toBe('two');

    const c = await put('three');
    const second = await assembleSet(dir, '1.1.0', [{ path: 'a.sig', sha256: c }]);
    // Before the switch, `current` still shows the first set whole.
    expect(await readFile(join(dir, 'current', 'a.sig'), 'utf8')).toBe('one');
    await switchCurrent(dir, second);
    expect(await readlink(join(dir, 'current'))).toBe(second);
    expect(await readFile(join(dir, 'current', 'a.sig'), 'utf8')).toBe('three');

    await collectGarbage(dir, second, new Set([c]));
    expect(await readdir(join(dir, 'sets'))).toEqual([second.slice('sets/'.length)]);
    expect(await readdir(join(dir, 'store'))).toEqual([c]);
    expect(await inStore(dir, c, 5)).toBe(true);
    expect(await inStore(dir, a, 3)).toBe(false);
  });

  it('leaves nothing half-built when a file is missing from the store', async () => {
    await expect(assembleSet(dir, '2.0.0', [{ path: 'x', sha256: sha('absent') }])).rejects.toThrow();
    expect(await readdir(join(dir, 'sets'))).toEqual([]);
    expect(await currentSet(dir)).toBeUndefined();
  });
});
