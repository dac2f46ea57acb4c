import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maxSegmentLength } from '#lib/definitions/bucket.ts';
import type { SetFile, SetManifest, SetPatch } from '#lib/releases/set-manifest.ts';
import { PATCH_FORMAT, consistentName, fileTargetPath, parseSetManifest, patchTargetPath, setManifestBytes, setTargetPath, targetObjectKey } from '#lib/releases/set-manifest.ts';

function file(path: string, content: string): SetFile {
  const sha256 = createHash('sha256').update(content).digest('hex');
  return { path, target: fileTargetPath('demo-av', sha256, path), length: Buffer.byteLength(content), sha256 };
}

const files = [file('main.sig', 'main'), file('daily.sig', 'daily'), file('sub/engine.cfg', 'cfg'), file('a/b/c.dat', 'c'), file('Z.sig', 'z')];
const manifest: SetManifest = { product: 'demo-av', version: '1.2.3', files };

describe('setManifestBytes', () => {
  it('gives the same bytes whatever the order of the files (so a re-run is the same release)', () => {
    const reference = setManifestBytes(manifest);
    fc.assert(fc.property(fc.shuffledSubarray(files, { minLength: files.length, maxLength: files.length }), (shuffled) => setManifestBytes({ ...manifest, files: shuffled }).equals(reference)));
  });

  it('gives the same bytes whatever the order of each file\'s fields', () => {
    const reordered = files.map((f) => ({ sha256: f.sha256, length: f.length, target: f.target, path: f.path }));
    expect(setManifestBytes({ version: '1.2.3', files: reordered, product: 'demo-av' } as SetManifest).equals(setManifestBytes(manifest))).toBe(true);
  });

  it('changes with any file content, the version or the product', () => {
    const reference = setManifestBytes(manifest).toString();
    expect(setManifestBytes({ ...manifest, files: [...files.slice(1), file('main.sig', 'main v2')] }).toString()).not.toBe(reference);
    expect(setManifestBytes({ ...manifest, version: '1.2.4' }).toString()).not.toBe(reference);
    expect(setManifestBytes({ ...manifest, product: 'other-av' }).toString()).not.toBe(reference);
  });

  it('is canonical JSON that reads back as the manifest, files sorted by path', () => {
    const bytes = setManifestBytes(manifest);
    expect(bytes.toString()).not.toMatch(/\s/);
    const parsed = parseSetManifest(bytes);
    expect(parsed).toEqual({ ...manifest, files: [...files].sort((a, b) => (a.path < b.path ? -1 : 1)) });
  });
});

describe('target paths', () => {
  it('puts the hash in the directory of a target path (one path per content), not in its basename', () => {
    const sha = 'ab'.repeat(32);
    expect(fileTargetPath('demo-av', sha, 'sub/dir/engine.cfg')).toBe(`demo-av/${sha}/engine.cfg`);
    expect(setTargetPath('demo-av', '1.2.3', sha)).toBe(`demo-av/${sha}/set-1.2.3.json`);
  });

  it('stores a target at the name consistent snapshots derive from its path: <dir>/<sha256>.<basename>', () => {
    const sha = 'ab'.repeat(32);
    expect(consistentName(`demo-av/${sha}/main.sig`, sha)).toBe(`demo-av/${sha}/${sha}.main.sig`);
    expect(consistentName('top.txt', sha)).toBe(`${sha}.top.txt`);
    expect(targetObjectKey(`demo-av/${sha}/main.sig`, sha)).toBe(`targets/demo-av/${sha}/${sha}.main.sig`);
  });

  it('refuses to parse something that is not a set manifest', () => {
    expect(() => parseSetManifest(Buffer.from('{"product":"p","files":[]}'))).toThrow('not a set manifest');
  });
});

describe('patches in the set manifest', () => {
  const sha = (text: string) => createHash('sha256').update(text).digest('hex');
  const patch = (base: string, result: SetFile, body: string): SetPatch => ({
    format: PATCH_FORMAT,
    target: patchTargetPath('demo-av', sha(body), result.path),
    sha256: sha(body),
    length: body.length,
    base: { sha256: sha(base) },
    result: { sha256: result.sha256 },
  });
  const main = file('main.sig', 'main v3');
  const withPatches: SetManifest = { ...manifest, files: [main, { ...main, path: 'copy.sig' }, ...files.slice(1)].map((f) => (f.path === 'main.sig' ? { ...f, patches: [patch('main v2', f, 'p2'), patch('main v1', f, 'p1')] } : f)) };

  it('a set without patches has the bytes it had before patches existed: no `patches` key, empty or absent', () => {
    const before = '{"files":[{"length":4,"path":"main.sig","sha256":"' + sha('main') + '","target":"demo-av/' + sha('main') + '/main.sig"}],"product":"demo-av","version":"1.0.0"}';
    const one = { product: 'demo-av', version: '1.0.0', files: [file('main.sig', 'main')] };
    expect(setManifestBytes(one).toString()).toBe(before);
    expect(setManifestBytes({ ...one, files: [{ ...file('main.sig', 'main'), patches: [] }] }).toString()).toBe(before);
  });

  it('lists a file\'s patches, sorted by base, canonically: the same patches in any order give the same bytes', () => {
    const bytes = setManifestBytes(withPatches);
    const reversed = { ...withPatches, files: withPatches.files.map((f) => (f.patches ? { ...f, patches: [...f.patches].reverse() } : f)) };
    expect(setManifestBytes(reversed).equals(bytes)).toBe(true);
    const listed = parseSetManifest(bytes).files.find((f) => f.path === 'main.sig')?.patches;
    expect(listed?.map((p) => p.base.sha256)).toEqual([sha('main v1'), sha('main v2')].sort());
    expect(listed?.[0]).toEqual(expect.objectContaining({ format: 'zstd-patch-from', result: { sha256: main.sha256 } }));
    expect(Object.keys(listed?.[0] ?? {}).sort()).toEqual(['base', 'format', 'length', 'result', 'sha256', 'target']);
  });

  it('keeps every field an agent without patch support reads, unchanged (an old parser sees the same files)', () => {
    const oldReader = (bytes: Buffer) => (JSON.parse(bytes.toString()) as { files: Array<Record<string, unknown>> }).files.map(({ path, target, length, sha256 }) => ({ path, target, length, sha256 }));
    const plain = { ...withPatches, files: withPatches.files.map(({ patches: _patches, ...f }) => f) };
    expect(oldReader(setManifestBytes(withPatches))).toEqual(oldReader(setManifestBytes(plain)));
  });

  it('names a patch target by its own hash, under the file\'s basename, within the segment limit with the longest name', () => {
    const s = 'cd'.repeat(32);
    expect(patchTargetPath('demo-av', s, 'sub/main.sig')).toBe(`demo-av/${s}/main.sig.patch`);
    const longest = 'n'.repeat(128);
    const stored = consistentName(patchTargetPath('demo-av', s, longest), s).split('/').pop() ?? '';
    expect(stored.length).toBeLessThanOrEqual(maxSegmentLength);
  });
});
