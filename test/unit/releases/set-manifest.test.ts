import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SetFile, SetManifest } from '#lib/releases/set-manifest.ts';
import { consistentName, fileTargetPath, parseSetManifest, setManifestBytes, setTargetPath, targetObjectKey } from '#lib/releases/set-manifest.ts';

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
