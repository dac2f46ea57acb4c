/**
 * The next targets metadata for a publish: the previous one, plus the new version's
 * files and set manifest, minus what fell out of retention. Pure: the caller supplies
 * the retained versions' set manifests (to know which files they still need).
 */
import { Metadata, Targets, TargetFile } from '@tufjs/models';
import { EXPIRY_DAYS, SPEC_VERSION, expiresIn } from '#lib/tuf/metadata.ts';
import type { SetManifest, TargetCustom } from './set-manifest.ts';
import { compareVersions } from './versions.ts';

export const DEFAULT_RETENTION = 5;

export function customOf(target: TargetFile): TargetCustom | undefined {
  const custom = target.custom as Partial<TargetCustom>;
  return typeof custom.product === 'string' && (custom.kind === 'file' || custom.kind === 'set' || custom.kind === 'patch') ? (custom as TargetCustom) : undefined;
}

/** The product's published versions in this targets metadata, newest first. */
export function versionsIn(targets: Targets, product: string): Array<{ version: string; path: string; sha256: string }> {
  return Object.values(targets.targets)
    .flatMap((t) => {
      const custom = customOf(t);
      return custom?.kind === 'set' && custom.product === product && custom.version ? [{ version: custom.version, path: t.path, sha256: t.hashes.sha256 ?? '' }] : [];
    })
    .sort((a, b) => compareVersions(b.version, a.version));
}

export interface NextTargetsInput {
  readonly previous: Targets | undefined;
  readonly manifest: SetManifest;
  readonly manifestTarget: { path: string; length: number; sha256: string };
  /** The set manifests of the product's versions that stay (the newest `retention - 1` before this one). */
  readonly retainedManifests: readonly SetManifest[];
  readonly retention: number;
  readonly now: Date;
}

export function nextTargets(input: NextTargetsInput): Metadata<Targets> {
  const { previous, manifest, manifestTarget, retainedManifests, now } = input;
  const product = manifest.product;
  const keepVersions = new Set(retainedManifests.map((m) => m.version));
  // A file, or a patch, stays while any retained version lists it.
  const keepFiles = new Set([...retainedManifests, manifest].flatMap((m) => m.files.flatMap((f) => [f.target, ...(f.patches ?? []).map((p) => p.target)])));

  const targets = new Targets({ version: (previous?.version ?? 0) + 1, specVersion: SPEC_VERSION, expires: expiresIn(EXPIRY_DAYS.targets, now) });
  for (const target of Object.values(previous?.targets ?? {})) {
    const custom = customOf(target);
    if (custom?.product !== product) {
      targets.addTarget(target); // other products are not this publish's business
      continue;
    }
    if (custom.kind === 'set' ? keepVersions.has(custom.version ?? '') : keepFiles.has(target.path)) targets.addTarget(target);
  }
  for (const file of manifest.files) {
    targets.addTarget(new TargetFile({ path: file.target, length: file.length, hashes: { sha256: file.sha256 }, unrecognizedFields: { custom: { product, kind: 'file' } } }));
    for (const patch of file.patches ?? []) {
      // Its own kind, so no client mistakes a patch for a file of the set.
      targets.addTarget(new TargetFile({ path: patch.target, length: patch.length, hashes: { sha256: patch.sha256 }, unrecognizedFields: { custom: { product, kind: 'patch' } } }));
    }
  }
  targets.addTarget(
    new TargetFile({
      path: manifestTarget.path,
      length: manifestTarget.length,
      hashes: { sha256: manifestTarget.sha256 },
      unrecognizedFields: { custom: { product, kind: 'set', version: manifest.version } },
    }),
  );
  return new Metadata(targets);
}
