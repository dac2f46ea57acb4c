import { createHash } from 'node:crypto';
import type { Targets } from '@tufjs/models';
import { describe, expect, it } from 'vitest';
import type { SetManifest } from '#lib/releases/set-manifest.ts';
import { fileTargetPath, setManifestBytes, setTargetPath } from '#lib/releases/set-manifest.ts';
import { DEFAULT_RETENTION, customOf, nextTargets, versionsIn } from '#lib/releases/targets.ts';

const now = new Date('2026-11-21T12:00:00.456Z');
const sha = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

function manifestOf(product: string, version: string, files: Record<string, string>): SetManifest {
  return {
    product,
    version,
    files: Object.entries(files).map(([path, content]) => ({ path, target: fileTargetPath(product, sha(content), path), length: Buffer.byteLength(content), sha256: sha(content) })),
  };
}

/** One publish as publish.ts drives nextTargets: the newest `retention - 1` other versions stay. */
class Repository {
  current: Targets | undefined;
  readonly manifests = new Map<string, SetManifest>();

  publish(product: string, version: string, files: Record<string, string>, retention = DEFAULT_RETENTION): { targets: Targets; setPath: string; manifest: SetManifest } {
    const manifest = manifestOf(product, version, files);
    const bytes = setManifestBytes(manifest);
    const setPath = setTargetPath(product, version, sha(bytes));
    const kept = this.current ? versionsIn(this.current, product).filter((v) => v.version !== version).slice(0, retention - 1) : [];
    const retainedManifests = kept.map((v) => this.manifests.get(v.path) as SetManifest);
    const metadata = nextTargets({ previous: this.current, manifest, manifestTarget: { path: setPath, length: bytes.length, sha256: sha(bytes) }, retainedManifests, retention, now });
    this.manifests.set(setPath, manifest);
    this.current = metadata.signed;
    return { targets: metadata.signed, setPath, manifest };
  }
}

const pathsOf = (targets: Targets, product: string, kind: 'file' | 'set') => Object.values(targets.targets).filter((t) => customOf(t)?.product === product && customOf(t)?.kind === kind).map((t) => t.path);

describe('nextTargets', () => {
  it('adds the version\'s files and its set manifest, with the custom fields a client reads', () => {
    const repo = new Repository();
    const { targets, setPath, manifest } = repo.publish('demo-av', '1.0.0', { 'main.sig': 'main', 'daily.sig': 'daily' });
    expect(targets.version).toBe(1);
    expect(targets.expires).toBe('2027-11-21T12:00:00Z');
    expect(Object.keys(targets.targets).sort()).toEqual([...manifest.files.map((f) => f.target), setPath].sort());
    expect(targets.targets[setPath]?.unrecognizedFields).toEqual({ custom: { product: 'demo-av', kind: 'set', version: '1.0.0' } });
    for (const f of manifest.files) {
      const entry = targets.targets[f.target];
      expect(entry?.length).toBe(f.length);
      expect(entry?.hashes).toEqual({ sha256: f.sha256 });
      expect(entry && customOf(entry)).toEqual({ product: 'demo-av', kind: 'file' });
    }
  });

  it('counts the targets version up from the previous one', () => {
    const repo = new Repository();
    repo.publish('demo-av', '1.0.0', { 'a.sig': 'a' });
    expect(repo.publish('demo-av', '1.0.1', { 'a.sig': 'a2' }).targets.version).toBe(2);
  });

  it('keeps every target of other products untouched', () => {
    const repo = new Repository();
    const other = repo.publish('other-av', '7.0.0', { 'x.sig': 'x', 'y.sig': 'y' });
    const before = Object.fromEntries(Object.entries(other.targets.targets).map(([k, v]) => [k, v.toJSON()]));
    for (let i = 0; i < 8; i++) repo.publish('demo-av', `1.0.${i}`, { 'a.sig': `a${i}` }, 2);
    const after = repo.current as Targets;
    for (const [path, entry] of Object.entries(before)) expect(after.targets[path]?.toJSON()).toEqual(entry);
  });

  it('lists one target for a file unchanged between versions', () => {
    const repo = new Repository();
    repo.publish('demo-av', '1.0.0', { 'main.sig': 'main', 'daily.sig': 'daily 1' });
    const { targets } = repo.publish('demo-av', '1.1.0', { 'main.sig': 'main', 'daily.sig': 'daily 2' });
    expect(pathsOf(targets, 'demo-av', 'file')).toHaveLength(3);
    expect(pathsOf(targets, 'demo-av', 'set')).toHaveLength(2);
  });

  it('prunes by retention: the oldest set manifest and the files only it used go, shared files stay', () => {
    const repo = new Repository();
    const published = ['1.0.0', '1.0.1', '1.0.2', '1.0.3', '1.0.4', '1.0.5'].map((v) => ({ v, ...repo.publish('demo-av', v, { 'common.sig': 'common', [`only-${v}.sig`]: v }, 5) }));
    const targets = repo.current as Targets;
    expect(versionsIn(targets, 'demo-av').map((x) => x.version)).toEqual(['1.0.5', '1.0.4', '1.0.3', '1.0.2', '1.0.1']);
    const oldest = published[0];
    expect(targets.targets[oldest?.setPath ?? '']).toBeUndefined();
    const onlyOldest = oldest?.manifest.files.find((f) => f.path === 'only-1.0.0.sig');
    const common = oldest?.manifest.files.find((f) => f.path === 'common.sig');
    expect(targets.targets[onlyOldest?.target ?? '']).toBeUndefined();
    expect(targets.targets[common?.target ?? '']).toBeDefined();
    expect(pathsOf(targets, 'demo-av', 'file')).toHaveLength(1 + 5);
    // Every retained version still finds all its files.
    for (const p of published.slice(1)) for (const f of p.manifest.files) expect(targets.targets[f.target]).toBeDefined();
  });

  it('with retention 1 keeps only the new version', () => {
    const repo = new Repository();
    repo.publish('demo-av', '1.0.0', { 'a.sig': 'a1', 'b.sig': 'b' }, 1);
    const { targets, manifest } = repo.publish('demo-av', '2.0.0', { 'a.sig': 'a2', 'b.sig': 'b' }, 1);
    expect(versionsIn(targets, 'demo-av').map((x) => x.version)).toEqual(['2.0.0']);
    expect(pathsOf(targets, 'demo-av', 'file').sort()).toEqual(manifest.files.map((f) => f.target).sort());
  });
});

describe('versionsIn', () => {
  it('lists a product\'s versions newest first, by version order not text order', () => {
    const repo = new Repository();
    for (const v of ['1.2.0', '1.9.0', '1.10.0']) repo.publish('demo-av', v, { 'a.sig': v }, 10);
    repo.publish('other-av', '99.0.0', { 'a.sig': 'x' });
    expect(versionsIn(repo.current as Targets, 'demo-av').map((x) => x.version)).toEqual(['1.10.0', '1.9.0', '1.2.0']);
  });
});

describe('nextTargets with patches', () => {
  const patchOf = (product: string, version: string, files: Record<string, string>, patches: Record<string, { from: string; body: string }>): SetManifest => {
    const m = manifestOf(product, version, files);
    return {
      ...m,
      files: m.files.map((f) => {
        const p = patches[f.path];
        return p ? { ...f, patches: [{ format: 'zstd-patch-from' as const, target: `${product}/${sha(p.body)}/${f.path}.patch`, sha256: sha(p.body), length: p.body.length, base: { sha256: sha(p.from) }, result: { sha256: f.sha256 } }] } : f;
      }),
    };
  };

  it('adds a patch as a target of its own kind, and keeps it while a retained version lists it', () => {
    const v1 = manifestOf('demo-av', '1.0.0', { 'main.sig': 'm1' });
    const v2 = patchOf('demo-av', '1.1.0', { 'main.sig': 'm2' }, { 'main.sig': { from: 'm1', body: 'p12' } });
    const bytes = (m: SetManifest) => setManifestBytes(m);
    const target = (m: SetManifest) => ({ path: setTargetPath('demo-av', m.version, sha(bytes(m))), length: bytes(m).length, sha256: sha(bytes(m)) });
    const first = nextTargets({ previous: undefined, manifest: v1, manifestTarget: target(v1), retainedManifests: [], retention: 2, now }).signed;
    const second = nextTargets({ previous: first, manifest: v2, manifestTarget: target(v2), retainedManifests: [v1], retention: 2, now }).signed;
    const patchPath = v2.files[0]?.patches?.[0]?.target ?? '';
    const entry = second.targets[patchPath];
    expect(entry && customOf(entry)).toEqual({ product: 'demo-av', kind: 'patch' });
    expect(entry?.hashes).toEqual({ sha256: sha('p12') });
    expect(entry?.length).toBe(3);
    // 1.2.0 with 1.1.0 retained: the patch 1.1.0 lists stays.
    const v3 = manifestOf('demo-av', '1.2.0', { 'main.sig': 'm3' });
    const third = nextTargets({ previous: second, manifest: v3, manifestTarget: target(v3), retainedManifests: [v2], retention: 2, now }).signed;
    expect(third.targets[patchPath]).toBeDefined();
    // 1.3.0 with only 1.2.0 retained: 1.1.0 and its patch are gone.
    const v4 = manifestOf('demo-av', '1.3.0', { 'main.sig': 'm4' });
    const fourth = nextTargets({ previous: third, manifest: v4, manifestTarget: target(v4), retainedManifests: [v3], retention: 2, now }).signed;
    expect(fourth.targets[patchPath]).toBeUndefined();
    expect(Object.values(fourth.targets).filter((t) => customOf(t)?.kind === 'patch')).toEqual([]);
  });
});
