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

export function setManifestBytes(manifest: SetManifest): Buffer {
  const files = [...manifest.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return Buffer.from(canonicalize({ product: manifest.product, version: manifest.version, files: files.map((f) => ({ ...f })) }));
}

/** A set manifest's TUF target path: `<product>/<sha256>/set-<version>.json` (content-addressed like a file's). */
export function setTargetPath(product: string, version: string, sha256: string): string {
  return `${product}/${sha256}/set-${version}.json`;
}

/** Custom fields on targets entries, so a client can tell what a target is without downloading it. */
export interface TargetCustom {
  readonly product: string;
  readonly kind: 'file' | 'set';
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
