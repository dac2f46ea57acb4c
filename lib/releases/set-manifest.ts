/**
 * The set manifest: what one published version of a product consists of. It is itself
 * a TUF target, so an agent that verified it through TUF knows exactly which files, with
 * which hashes, make up the version it was offered. Serialized canonically, so the same
 * directory always gives the same manifest bytes (and hash): a re-run of a publish is
 * recognised as the same release.
 */
import { canonicalize } from '@tufjs/canonical-json';

export interface SetFile {
  /** Path inside the installed set, `/`-separated. */
  readonly path: string;
  /** TUF target path: `<product>/<sha256>.<basename>`. */
  readonly target: string;
  readonly length: number;
  readonly sha256: string;
  /**
   * Binary patches that turn an earlier version's file at this path into this one
   * (docs/tuf-repository.md, "Binary patches"). Optional and only present when non-empty,
   * so an agent that reads `path`, `target`, `length`, `sha256` alone installs as before,
   * and a set published without patches has the same bytes as before patches existed.
   */
  readonly patches?: readonly SetPatch[];
}

/** The one patch format: a zstd frame made with `zstd --patch-from=BASE`; applied with the base as a raw-content prefix. */
export const PATCH_FORMAT = 'zstd-patch-from';

export interface SetPatch {
  /** So a later format can be added without an older agent misreading it: an agent applies only formats it knows. */
  readonly format: typeof PATCH_FORMAT;
  /** TUF target path of the patch: `<product>/<patch sha256>/<basename>.patch` (kind `patch`). */
  readonly target: string;
  readonly sha256: string;
  readonly length: number;
  /** The content the patch applies to: an earlier version's file at the same path, by hash (the agent's store is by hash). */
  readonly base: { readonly sha256: string };
  /** What applying it gives: always the file's own hash, said here so the patch entry stands on its own. */
  readonly result: { readonly sha256: string };
}

export interface SetManifest {
  readonly product: string;
  readonly version: string;
  readonly files: readonly SetFile[];
}

/**
 * A file name in a set. At most 128 characters, so a target's stored name
 * (`<64 hex>.<name>`, 193 at most) stays within the segment limit every object path is
 * held to (`maxSegmentLength` in lib/definitions/bucket.ts).
 */
export const FILE_NAME = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * A file's TUF target path: `<product>/<sha256>/<basename>`. One path per content: two
 * versions that share a file share its path (stored once, cached once), and two versions
 * whose files differ under the same name never collide. The hash is in the directory, not
 * the basename, so the name TUF's consistent snapshots derive (`consistentName`) is what
 * any client at its default settings asks for.
 */
export function fileTargetPath(product: string, sha256: string, path: string): string {
  const base = path.split('/').pop() ?? path;
  return `${product}/${sha256}/${base}`;
}

/**
 * The name under which consistent snapshots store a target: `<dir>/<sha256>.<basename>`
 * for the target path `<dir>/<basename>` (TUF 1.0, "consistent snapshots"). Objects sit in
 * the bucket, and are served, at exactly this name.
 */
export function consistentName(targetPath: string, sha256: string): string {
  const slash = targetPath.lastIndexOf('/');
  return `${targetPath.slice(0, slash + 1)}${sha256}.${targetPath.slice(slash + 1)}`;
}

/**
 * A patch's TUF target path: `<product>/<patch sha256>/<basename>.patch`, content-addressed
 * like a file's. With the longest allowed basename (128) its stored name is 64 + 1 + 128 + 6
 * = 199 characters, within `maxSegmentLength` (200).
 */
export function patchTargetPath(product: string, sha256: string, path: string): string {
  return `${fileTargetPath(product, sha256, path)}.patch`;
}

const byKey = <T>(key: (item: T) => string) => (a: T, b: T) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);

export function setManifestBytes(manifest: SetManifest): Buffer {
  const files = [...manifest.files].sort(byKey((f) => f.path));
  return Buffer.from(
    canonicalize({
      product: manifest.product,
      version: manifest.version,
      // No `patches` key when there are none: a set without patches keeps the bytes (and so the hash) it had before patches existed.
      files: files.map(({ patches, ...f }) => ({ ...f, ...(patches && patches.length > 0 && { patches: [...patches].sort(byKey((p) => p.base.sha256)).map((p) => ({ ...p })) }) })),
    }),
  );
}

/** A set manifest's TUF target path: `<product>/<sha256>/set-<version>.json` (content-addressed like a file's). */
export function setTargetPath(product: string, version: string, sha256: string): string {
  return `${product}/${sha256}/set-${version}.json`;
}

/** Custom fields on targets entries, so a client can tell what a target is without downloading it. */
export interface TargetCustom {
  readonly product: string;
  readonly kind: 'file' | 'set' | 'patch';
  /** Only on sets. */
  readonly version?: string;
}

/** The S3 key of a target: its consistent-snapshot name under `targets/`. */
export function targetObjectKey(targetPath: string, sha256: string): string {
  return `targets/${consistentName(targetPath, sha256)}`;
}

/** Everything of one product in the bucket lives under this prefix. */
export function productTargetsPrefix(product: string): string {
  return `targets/${product}/`;
}

export function parseSetManifest(bytes: Buffer): SetManifest {
  const value = JSON.parse(bytes.toString('utf8')) as SetManifest;
  if (typeof value.product !== 'string' || typeof value.version !== 'string' || !Array.isArray(value.files)) {
    throw new Error('not a set manifest');
  }
  return value;
}
