/**
 * Step 4 of docs/agent-protocol.md, verify with TUF: the metadata is refreshed (root walk,
 * timestamp, snapshot, targets: signatures, thresholds, versions, expiry), then the set
 * manifest and every file it lists are checked against the signed targets.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TargetFile } from 'tuf-js';
import { Updater } from 'tuf-js';
import { PersistError } from 'tuf-js/dist/error.js';
import { trimSlash } from './client.ts';
import type { DownloadStats, TargetSource } from './download.ts';
import { downloadToStore } from './download.ts';
import { AgentError, diskFailureOf } from './errors.ts';
import { inStore, storePath } from './file-store.ts';
import type { HttpClient } from './http.ts';
import { TUF_DIR } from './register.ts';
import type { GrantSource } from './tuf-fetcher.ts';
import { AgentFetcher } from './tuf-fetcher.ts';
import type { Manifest } from '#lib/delivery/manifest.ts';

export interface SetFile {
  readonly path: string;
  readonly target: string;
  readonly length: number;
  readonly sha256: string;
  /** Binary patches that give this file (agent/patch.ts reads them); not checked here: a bad one only costs the whole download. */
  readonly patches?: unknown;
}

export interface VerifiedSet {
  /** The set manifest's own hash (it is kept in the store too). */
  readonly sha256: string;
  /** Bytes of the set manifest received (0 when the store had it). */
  readonly downloadedBytes: number;
  readonly files: readonly SetFile[];
  /** The signed target info of every listed file, by its sha256. */
  readonly targets: ReadonlyMap<string, TargetFile>;
}

/**
 * tuf-js wraps a metadata write that failed into a PersistError whose message alone keeps
 * the errno (`Failed to persist metadata timestamp error: Error: ENOSPC: ...`): the error
 * it was, with the file it named, so that a full disk is said as such (agent/errors.ts).
 */
function persistFailure(error: unknown, dir: string): Error | undefined {
  const found = error instanceof PersistError ? /metadata (\S+) error: .*?\b(E[A-Z]+):/.exec(error.message) : null;
  if (!found) return undefined;
  const unwrapped = Object.assign(new Error((error as Error).message), { code: found[2], path: join(dir, TUF_DIR, `${found[1]}.json`) });
  return diskFailureOf(unwrapped) ? unwrapped : undefined;
}

function tufFailure(error: unknown, dir: string): Error {
  if (error instanceof AgentError) return error;
  // A disk that cannot take the metadata is the disk's failure, not a refusal of the metadata.
  if (diskFailureOf(error)) return error as Error;
  const persisted = persistFailure(error, dir);
  if (persisted) return persisted;
  return new AgentError('VERIFICATION_FAILED', `TUF metadata refused: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
}

/** Refreshes the agent's TUF metadata; returns the lookup of a target's signed info. */
export async function refreshMetadata(
  dir: string,
  http: HttpClient,
  manifest: Pick<Manifest, 'metadataUrl' | 'targetsUrl'>,
  grant: GrantSource,
  /** When given, collects every metadata file the refresh fetched, by URL (see AgentFetcher). */
  record?: Map<string, Buffer>,
): Promise<(path: string) => Promise<TargetFile>> {
  const updater = new Updater({
    metadataDir: join(dir, TUF_DIR),
    metadataBaseUrl: trimSlash(manifest.metadataUrl),
    targetBaseUrl: trimSlash(manifest.targetsUrl),
    fetcher: new AgentFetcher(http, grant, record),
  });
  await updater.refresh().catch((error: unknown) => {
    throw tufFailure(error, dir);
  });
  return async (path: string): Promise<TargetFile> => {
    const info = await updater.getTargetInfo(path).catch((error: unknown) => {
      throw tufFailure(error, dir);
    });
    if (!info) throw new AgentError('VERIFICATION_FAILED', `${path} is not in the signed targets metadata`);
    return info;
  };
}

/** Fetches the set manifest (into the store) and checks it and every file it lists against the signed targets. */
export async function verifySet(dir: string, http: HttpClient, source: TargetSource, manifest: Pick<Manifest, 'product' | 'version' | 'setManifest'>, targetInfo: (path: string) => Promise<TargetFile>): Promise<VerifiedSet> {
  const setInfo = await signedSetInfo(manifest, targetInfo);
  const setStats: DownloadStats = { files: 0, bytes: 0, resumed: 0 };
  if (!(await inStore(dir, setInfo.hashes.sha256 ?? '', setInfo.length))) await downloadToStore(dir, http, source, setInfo, setStats);
  return { ...(await storedSet(dir, manifest, setInfo, targetInfo)), downloadedBytes: setStats.bytes };
}

/** The set manifest's signed info: a target whose custom fields say it is this product's set of this version. */
export async function signedSetInfo(manifest: Pick<Manifest, 'product' | 'version' | 'setManifest'>, targetInfo: (path: string) => Promise<TargetFile>): Promise<TargetFile> {
  const setInfo = await targetInfo(manifest.setManifest);
  const custom = setInfo.custom as { product?: unknown; kind?: unknown; version?: unknown };
  if (custom.product !== manifest.product || custom.kind !== 'set' || custom.version !== manifest.version) {
    throw new AgentError('VERIFICATION_FAILED', `${manifest.setManifest} is not the set manifest of ${manifest.product} ${manifest.version} (its signed custom fields say ${JSON.stringify(custom)})`);
  }
  return setInfo;
}

/**
 * The set manifest the store holds for `setInfo` (verified when it was stored), checked to
 * describe this product and version, and every file it lists against the signed targets.
 * Also what agent/reconcile.ts uses after a crash, with the targets the agent trusted then.
 */
export async function storedSet(dir: string, manifest: Pick<Manifest, 'product' | 'version' | 'setManifest'>, setInfo: TargetFile, targetInfo: (path: string) => Promise<TargetFile>): Promise<Omit<VerifiedSet, 'downloadedBytes'>> {
  const setHash = setInfo.hashes.sha256 ?? '';
  if (!(await inStore(dir, setHash, setInfo.length))) throw new AgentError('VERIFICATION_FAILED', `the store does not hold the set manifest ${manifest.setManifest}`);
  const set = JSON.parse(await readFile(storePath(dir, setHash), 'utf8')) as { product?: unknown; version?: unknown; files?: SetFile[] };
  if (set.product !== manifest.product || set.version !== manifest.version || !Array.isArray(set.files)) {
    throw new AgentError('VERIFICATION_FAILED', `${manifest.setManifest} does not describe ${manifest.product} ${manifest.version}`);
  }

  // Every listed file must be a signed target of this product with the hash and length the set says.
  const files = set.files;
  const targets = new Map<string, TargetFile>();
  for (const file of files) {
    const info = await targetInfo(file.target);
    const fileCustom = info.custom as { product?: unknown; kind?: unknown };
    if (fileCustom.product !== manifest.product || fileCustom.kind !== 'file' || info.hashes.sha256 !== file.sha256 || info.length !== file.length) {
      throw new AgentError('VERIFICATION_FAILED', `${file.path}: the set manifest and the signed targets metadata disagree about ${file.target}`);
    }
    targets.set(file.sha256, info);
  }
  return { sha256: setHash, files, targets };
}
