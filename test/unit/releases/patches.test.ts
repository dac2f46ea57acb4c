import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PATCH_FROM_VERSIONS, choosePatchBases, worthKeeping } from '#lib/releases/patches.ts';
import type { SetFile, SetManifest } from '#lib/releases/set-manifest.ts';
import { fileTargetPath } from '#lib/releases/set-manifest.ts';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const file = (path: string, content: string): SetFile => ({ path, target: fileTargetPath('demo-av', sha(content), path), length: Buffer.byteLength(content), sha256: sha(content) });
const version = (v: string, files: Record<string, string>): SetManifest => ({ product: 'demo-av', version: v, files: Object.entries(files).map(([p, c]) => file(p, c)) });
const pairs = (chosen: ReturnType<typeof choosePatchBases>) => chosen.map(({ file: f, base }) => `${f.path}: ${base.sha256.slice(0, 6)}`);
const short = (content: string) => sha(content).slice(0, 6);

describe('choosePatchBases', () => {
  // Newest first, as versionsIn gives them.
  const earlier = [version('1.3.0', { 'main.sig': 'm3', 'daily.sig': 'd3' }), version('1.2.0', { 'main.sig': 'm2', 'daily.sig': 'd3' }), version('1.1.0', { 'main.sig': 'm1' }), version('1.0.0', { 'main.sig': 'm0' })];

  it('patches each changed file from the same path in each of the last K versions, direct, not a chain', () => {
    const next = [file('main.sig', 'm4'), file('daily.sig', 'd4')];
    expect(pairs(choosePatchBases(next, earlier, 3))).toEqual([`main.sig: ${short('m3')}`, `main.sig: ${short('m2')}`, `main.sig: ${short('m1')}`, `daily.sig: ${short('d3')}`]);
    expect(DEFAULT_PATCH_FROM_VERSIONS).toBe(3);
  });

  it('takes K versions, not K patches: a version without the path, or with the same content, gives none and is not replaced', () => {
    expect(pairs(choosePatchBases([file('main.sig', 'm4')], earlier, 1))).toEqual([`main.sig: ${short('m3')}`]);
    expect(pairs(choosePatchBases([file('main.sig', 'm4')], earlier, 0))).toEqual([]);
    expect(pairs(choosePatchBases([file('main.sig', 'm4')], earlier, 10)).length).toBe(4);
    // daily.sig unchanged since 1.3.0 (and in 1.2.0): nothing to patch from there; 1.1.0 has no daily.sig.
    expect(pairs(choosePatchBases([file('daily.sig', 'd3')], earlier, 3))).toEqual([]);
    // A new file: no base anywhere.
    expect(choosePatchBases([file('new.sig', 'n')], earlier, 3)).toEqual([]);
  });

  it('makes one patch per pair of contents: a base shared by two versions, or two paths with one content', () => {
    const shared = [version('2.1.0', { 'main.sig': 'same' }), version('2.0.0', { 'main.sig': 'same' })];
    expect(choosePatchBases([file('main.sig', 'new')], shared, 3)).toHaveLength(1);
    const twoPaths = [version('2.0.0', { 'a.sig': 'old', 'b.sig': 'old' })];
    expect(choosePatchBases([file('a.sig', 'new'), file('b.sig', 'new')], twoPaths, 3)).toHaveLength(1);
  });

  it('skips an empty base: a patch from nothing is the file compressed', () => {
    expect(choosePatchBases([file('main.sig', 'm')], [version('1.0.0', { 'main.sig': '' })], 3)).toEqual([]);
  });
});

describe('worthKeeping', () => {
  it('keeps a patch under half its file, drops one at half or more', () => {
    expect(worthKeeping(10, 1000)).toBe(true);
    expect(worthKeeping(499, 1000)).toBe(true);
    expect(worthKeeping(500, 1000)).toBe(false);
    expect(worthKeeping(1200, 1000)).toBe(false);
  });
});
