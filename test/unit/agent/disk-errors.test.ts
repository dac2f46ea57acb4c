/** The agent's reading of a disk that refused a write (agent/errors.ts), and the cleanup after one (agent/switch.ts). */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentError, diskError, diskFailureOf, withPath } from '../../../agent/errors.ts';
import { removePartials } from '../../../agent/switch.ts';

const errno = (code: string, path?: string) => Object.assign(new Error(`${code}: something`), { code, syscall: 'write', ...(path && { path }) });

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('disk failures', () => {
  it('are the file system errors of a refused write, not the network, not the content', () => {
    expect(diskFailureOf(errno('ENOSPC', '/d/store/x.partial'))).toEqual({ errno: 'ENOSPC', path: '/d/store/x.partial' });
    expect(diskFailureOf(errno('EIO'))).toEqual({ errno: 'EIO' });
    expect(diskFailureOf(errno('ECONNRESET'))).toBeUndefined();
    expect(diskFailureOf(errno('ENOENT'))).toBeUndefined();
    expect(diskFailureOf(new AgentError('NETWORK', 'cannot reach'))).toBeUndefined();
    expect(diskFailureOf('ENOSPC')).toBeUndefined();
  });

  it('name the path a write stream or an fsync did not name, and keep the one they did', () => {
    expect((withPath(errno('ENOSPC'), '/d/a.partial') as NodeJS.ErrnoException).path).toBe('/d/a.partial');
    expect((withPath(errno('ENOSPC', '/d/b'), '/d/a.partial') as NodeJS.ErrnoException).path).toBe('/d/b');
    const other = errno('ECONNRESET');
    expect((withPath(other, '/d/a.partial') as NodeJS.ErrnoException).path).toBeUndefined();
  });

  it('read as one line that says what to do', () => {
    expect(diskError({ errno: 'ENOSPC', path: '/d/store/x.partial' }, '/d')).toMatchObject({ code: 'NO_SPACE', message: 'no space left on the disk holding /d/store/x.partial: free space, then run again' });
    expect(diskError({ errno: 'EDQUOT' }, '/d').message).toBe('no space left on the disk holding /d: free space, then run again');
    expect(diskError({ errno: 'EROFS', path: '/d/sets' }, '/d')).toMatchObject({ code: 'DISK_WRITE_FAILED', message: 'cannot write /d/sets (EROFS): check the disk and its permissions, then run again' });
  });

  it('are followed by the removal of partial downloads, staging sets and unrenamed links; verified files and the installed set stay', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'signet-agent-partials-'));
    dirs.push(dir);
    const hash = 'a'.repeat(64);
    await mkdir(join(dir, 'store'));
    await mkdir(join(dir, 'sets', '.staging-1.1.0-0badc0de'), { recursive: true });
    await mkdir(join(dir, 'sets', '1.0.0-12345678'));
    await Promise.all([
      writeFile(join(dir, 'store', hash), 'verified'),
      writeFile(join(dir, 'store', `${'b'.repeat(64)}.partial`), 'half'),
      writeFile(join(dir, '.current-0badc0de'), ''),
      writeFile(join(dir, 'agent-state.json'), '{}'),
    ]);
    await removePartials(dir);
    expect(await readdir(join(dir, 'store'))).toEqual([hash]);
    expect(await readdir(join(dir, 'sets'))).toEqual(['1.0.0-12345678']);
    expect((await readdir(dir)).sort()).toEqual(['agent-state.json', 'sets', 'store']);
  });
});
