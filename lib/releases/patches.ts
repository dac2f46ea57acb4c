/**
 * Which binary patches a publish makes (docs/tuf-repository.md, "Binary patches"): for
 * each file of the new version, one patch from the same path in each of the last K
 * published versions, direct, not a chain. Pure: the caller makes the patches (zstd) and
 * keeps those `worthKeeping` says are worth an agent's download.
 */
import type { SetFile, SetManifest } from './set-manifest.ts';

/** How many earlier versions a publish makes patches from, unless told (`--patch-from-versions`). */
export const DEFAULT_PATCH_FROM_VERSIONS = 3;

/**
 * A patch is kept only below this share of its file. Above it, the patch saves the agent
 * less than it costs the repository (one more target per base and release) and the
 * agent (a decode holding base, patch and result in memory); a signature database's
 * patch is ~1% of the file, so the bar only drops patches of files that changed wholesale.
 */
export const PATCH_MAX_SHARE = 0.5;

export interface PatchBase {
  /** The new version's file. */
  readonly file: SetFile;
  /** The earlier version's file at the same path: the content the patch applies to. */
  readonly base: SetFile;
}

/**
 * The patches to make: for each file, its path in each of `earlier` (newest first; only
 * the first `versions` count), when that content differs and is not empty. One patch per
 * pair of contents: two earlier versions that share the file, or two paths with the same
 * content and base, need one patch.
 */
export function choosePatchBases(files: readonly SetFile[], earlier: readonly SetManifest[], versions: number): PatchBase[] {
  const bases = earlier.slice(0, Math.max(0, versions));
  const chosen = new Map<string, PatchBase>();
  for (const file of files) {
    for (const manifest of bases) {
      const base = manifest.files.find((f) => f.path === file.path);
      const pair = `${base?.sha256}:${file.sha256}`;
      if (!base || base.length === 0 || base.sha256 === file.sha256 || chosen.has(pair)) continue;
      chosen.set(pair, { file, base });
    }
  }
  return [...chosen.values()];
}

/** Whether a patch of `patchLength` bytes is worth listing for a file of `fileLength` bytes. */
export function worthKeeping(patchLength: number, fileLength: number): boolean {
  return patchLength < fileLength * PATCH_MAX_SHARE;
}
