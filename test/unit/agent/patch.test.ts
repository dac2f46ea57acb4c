/**
 * The agent's side of binary patches (agent/patch.ts): which listed patch it tries, the
 * zstd frame check before a decode, and the decode itself (@bokuweb/zstd-wasm in a worker
 * thread) on patches made by the zstd CLI as `signet publish` makes them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applyPatchFile, choosePatch, zstdFrameContentSize } from '../../../agent/patch.ts';
import type { SetFile } from '../../../agent/verify.ts';
import { baseRecordCount, versionRecords } from '../../../bench/signature-db.ts';
import { zstdPatcher } from '#lib/releases/zstd-patch.ts';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const patcher = await zstdPatcher();
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const RESULT = sha('v2');
const entry = (base: string, length: number, extra: Record<string, unknown> = {}) => ({ format: 'zstd-patch-from', target: `p/${sha(base + length)}/main.sig.patch`, sha256: sha(base + length), length, base: { sha256: sha(base) }, result: { sha256: RESULT }, ...extra });
const fileWith = (patches: unknown): SetFile => ({ path: 'main.sig', target: `p/${RESULT}/main.sig`, length: 1000, sha256: RESULT, patches });

describe('choosePatch', () => {
  const all = () => true;

  it('takes the smallest listed patch whose base the store holds', () => {
    const file = fileWith([entry('v0', 300), entry('v1', 100), entry('v-1', 50)]);
    expect(choosePatch(file, all)?.base).toBe(sha('v-1'));
    expect(choosePatch(file, (s) => s !== sha('v-1'))?.base).toBe(sha('v1'));
    expect(choosePatch(file, (s) => s === sha('v0'))).toMatchObject({ base: sha('v0'), length: 300, target: entry('v0', 300).target });
    expect(choosePatch(file, () => false)).toBeUndefined();
  });

  it('skips a patch not smaller than the file, of another format or result, or of another shape; a file without patches has none', () => {
    expect(choosePatch(fileWith([entry('v0', 1000)]), all)).toBeUndefined();
    expect(choosePatch(fileWith([entry('v0', 10, { format: 'vcdiff' })]), all)).toBeUndefined();
    expect(choosePatch(fileWith([entry('v0', 10, { result: { sha256: sha('other') } })]), all)).toBeUndefined();
    expect(choosePatch(fileWith([entry('v0', 10, { base: 'not an object' })]), all)).toBeUndefined();
    expect(choosePatch(fileWith([entry('v0', 10, { sha256: '../../etc' })]), all)).toBeUndefined();
    expect(choosePatch(fileWith([entry('v0', -1)]), all)).toBeUndefined();
    expect(choosePatch(fileWith('not a list'), all)).toBeUndefined();
    expect(choosePatch(fileWith(undefined), all)).toBeUndefined();
  });
});

describe('zstdFrameContentSize', () => {
  it('reads the content size from each size of the field, and refuses what is not a frame', () => {
    const frame = (descriptor: number, rest: number[]) => Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, descriptor, ...rest]);
    expect(zstdFrameContentSize(frame(0x20, [200]))).toBe(200); // single segment, 1 byte
    expect(zstdFrameContentSize(frame(0x60, [0x10, 0x00]))).toBe(0x10 + 256); // 2 bytes, +256
    expect(zstdFrameContentSize(frame(0x80, [0x70, 0x01, 0x02, 0x03, 0x04]))).toBe(0x04030201); // window byte, then 4 bytes
    expect(zstdFrameContentSize(frame(0xc0, [0x70, 1, 0, 0, 0, 1, 0, 0, 0]))).toBe(2 ** 32 + 1); // 8 bytes
    expect(zstdFrameContentSize(frame(0x00, [0x70]))).toBeUndefined(); // not declared
    expect(zstdFrameContentSize(Uint8Array.from([1, 2, 3, 4, 5, 6]))).toBeUndefined();
  });
});

describe.skipIf(!patcher)('applyPatchFile: a zstd CLI patch applied with zstd-wasm in a worker', () => {
  const database = (v: number) => Buffer.from([...versionRecords(11, baseRecordCount(11, 300_000), v)].map((r) => `${r}\n`).join(''));

  async function made(base: Buffer, next: Buffer) {
    const dir = await mkdtemp(join(tmpdir(), 'signet-patch-unit-'));
    dirs.push(dir);
    await writeFile(join(dir, 'base'), base);
    await writeFile(join(dir, 'next'), next);
    await patcher?.(join(dir, 'base'), join(dir, 'next'), join(dir, 'patch'));
    return { dir, base: join(dir, 'base'), patch: join(dir, 'patch'), bytes: await readFile(join(dir, 'patch')) };
  }

  it('rebuilds the new version exactly, from a patch of a few per cent that declares its size', async () => {
    const [v0, v3] = [database(0), database(3)];
    const p = await made(v0, v3);
    expect(p.bytes.length).toBeLessThan(v3.length * 0.1);
    expect(zstdFrameContentSize(p.bytes)).toBe(v3.length);
    const out = await applyPatchFile(p.base, p.patch, v3.length);
    expect(sha(out)).toBe(sha(v3));
  });

  it('rejects a damaged patch, and a patch given the wrong base gives other content (the caller\'s hash check refuses it)', async () => {
    const [v0, v1] = [database(0), database(1)];
    const p = await made(v0, v1);
    const damaged = Buffer.from(p.bytes);
    for (let i = 20; i < damaged.length; i += 7) damaged[i] = (damaged[i] as number) ^ 0xff;
    await writeFile(join(p.dir, 'damaged'), damaged);
    await expect(applyPatchFile(p.base, join(p.dir, 'damaged'), v1.length)).rejects.toThrow();
    await writeFile(join(p.dir, 'other-base'), randomBytes(v0.length));
    const wrong = await applyPatchFile(join(p.dir, 'other-base'), p.patch, v1.length).catch(() => undefined);
    expect(wrong && sha(wrong)).not.toBe(sha(v1));
  });
});
