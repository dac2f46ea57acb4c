/**
 * Bundles: how updates cross into an isolated segment, as one file carried by hand.
 *
 * Export (on a mirror that reaches the service): the signed metadata (every root version
 * held, and a timestamp the service signed for the bundle, valid as many days as the
 * operator asked: the one explicit, bounded freshness decision), the target files of the
 * versions held (with `--since`, only those the receiving side lacks), a lease the service
 * issued to the receiving mirror, and `bundle.json` listing every entry with its hash. One
 * tar stream: large sets never sit in memory.
 *
 * Import (on the isolated mirror): every entry is hashed as it is unpacked and must match
 * `bundle.json`; the metadata must pass a full TUF refresh from the mirror's trusted root
 * (signatures, thresholds, no rollback, not expired); every target file must be a signed
 * target with that hash; the lease must verify against the root and name this mirror and
 * its license. Only then does anything move into place, metadata and the served index last:
 * a truncated, tampered or foreign bundle changes nothing.
 *
 * Reports go the other way: `export --reports` on the isolated mirror, `import` on one
 * that reaches the service, which sends them on.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { cp, mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Updater, BaseFetcher } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import * as tar from 'tar-stream';
import type { SignedLease } from '#lib/mirror/lease.ts';
import { leaseOlderThanHeld, verifyLease } from '#lib/mirror/lease.ts';
import type { Root, Targets } from '@tufjs/models';
import { consistentName } from '#lib/releases/set-manifest.ts';
import { parseSetManifest } from '#lib/releases/set-manifest.ts';
import { versionsIn } from '#lib/releases/targets.ts';
import { compareVersions } from '#lib/releases/versions.ts';
import { parseRoot, parseSnapshot, parseTargets, parseTimestamp, rootChainBreak } from '#lib/tuf/metadata.ts';
import { storeDir, storePath } from '../agent/file-store.ts';
import { listedPatches, signsPatch } from '../agent/patch.ts';
import type { HttpClient } from '../agent/http.ts';
import { MirrorError } from './errors.ts';
import type { MirrorConfig, Served } from './state.ts';
import { heldLease, paths, readServed } from './state.ts';
import { crashPoint } from './crash.ts';
import { keepRelayKey, relayKeyFor } from './reports.ts';
import { recoverView, switchView, writeVersionedMetadata } from './view.ts';

export const BUNDLE_KIND = 'signet-bundle/1';

export interface BundleEntry {
  /** `metadata/<name>`, `store/<sha256>`, `lease.json` or `relay.key`. */
  readonly name: string;
  readonly sha256: string;
  readonly length: number;
}

export interface BundleManifest {
  readonly kind: typeof BUNDLE_KIND;
  readonly createdAt: string;
  /** The mirror it was exported from, and the one it is for. */
  readonly from: string;
  readonly for: string;
  readonly licenseId: string;
  /** Versions held per product: the set manifest target path of each. */
  readonly versions: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly since?: string;
  readonly entries: readonly BundleEntry[];
}

const MAX_BUNDLE_JSON_BYTES = 64 * 1024 * 1024;

async function sha256OfFile(file: string): Promise<{ sha256: string; length: number }> {
  const hash = createHash('sha256');
  let length = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    length += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), length };
}

/** The bundle entry that carries the receiving mirror's relay key. */
const RELAY_KEY_ENTRY = 'relay.key';

export interface ExportOptions {
  readonly dir: string;
  readonly config: MirrorConfig;
  readonly http: HttpClient;
  readonly out: string;
  /** The isolated mirror's id (its `signet mirror status` shows it). */
  readonly forMirror: string;
  /** Seats of the license to assign to it. */
  readonly seats: number;
  /** How long its metadata and lease stay valid: the operator's explicit freshness bound. */
  readonly validDays: number;
  /** Leave out the files of versions up to this one: the receiving side has them. */
  readonly since?: string;
  readonly sync: () => Promise<unknown>;
}

/** Writes a bundle for `forMirror` to `out`; returns its manifest. */
export async function exportBundle(options: ExportOptions): Promise<BundleManifest> {
  const { dir, config, http } = options;
  if (!config.upstream || !config.licenseKey) throw new MirrorError('export needs the upstream: run it on a mirror that reaches the service (--upstream, --license)');
  const upstream = config.upstream;
  const body = { licenseKey: config.licenseKey, mirrorId: options.forMirror, validDays: options.validDays };
  const leaseFor = async (timestampVersion?: number) =>
    (await http.api<{ lease: SignedLease }>('POST', `${upstream}/v1/mirrors/lease`, { ...body, seats: options.seats, ...(timestampVersion !== undefined && { timestampVersion }) })).body.lease;
  const timestampFor = async () => (await http.api<{ timestamp: unknown; snapshotVersion: number; timestampVersion: number }>('POST', `${upstream}/v1/mirrors/offline-timestamp`, body)).body;
  // The receiving mirror's seats first (a timestamp is signed only for a leased mirror), then
  // a timestamp for the bundle, then its lease again (the same seats: none move), issued for
  // that timestamp, so no lease can be moved into another bundle.
  await leaseFor();
  let timestamp = await timestampFor();
  let served = await readServed(dir);
  if (served?.snapshotVersion !== timestamp.snapshotVersion) {
    // The service moved on since the last sync: catch up, then ask again.
    await options.sync();
    served = await readServed(dir);
    timestamp = await timestampFor();
    if (served?.snapshotVersion !== timestamp.snapshotVersion) throw new MirrorError('the service keeps moving on: export again in a moment');
  }
  if (!served) throw new MirrorError('the mirror holds nothing yet: let it sync first');
  const lease = await leaseFor(timestamp.timestampVersion);
  if (lease.signed.timestampVersion !== timestamp.timestampVersion) throw new MirrorError("the service's lease names no bundle: the service is older than this mirror, update it first");

  const metadataDir = paths(dir).metadata;
  const trustedTargets = parseTargets(await readFile(join(paths(dir).tuf, 'targets.json')));
  const snapshotVersion = served.snapshotVersion;
  const targetsVersion = trustedTargets.signed.version;
  const metadataNames = (await readdir(metadataDir)).filter((n) => /^\d+\.root\.json$/.test(n) || n === `${snapshotVersion}.snapshot.json` || n === `${targetsVersion}.targets.json`);

  // With --since, the files of versions up to it are left out: the receiving side has them.
  const lacking = new Set(Object.values(served.targets).map((t) => t.sha256));
  if (options.since) {
    for (const [product, versions] of Object.entries(served.versions)) {
      for (const [version, setPath] of Object.entries(versions)) {
        if (compareVersions(version, options.since) > 0) continue;
        const setSha = trustedTargets.signed.targets[setPath]?.hashes.sha256 ?? '';
        lacking.delete(setSha);
        for (const file of parseSetManifest(await readFile(storePath(dir, setSha))).files) {
          lacking.delete(file.sha256);
          for (const patch of listedPatches(file)) lacking.delete(patch.sha256);
        }
        void product;
      }
    }
  }

  const files: Array<{ name: string; source: string | Buffer }> = [
    { name: 'lease.json', source: Buffer.from(JSON.stringify(lease)) },
    // The key the receiving mirror signs its reports files with (see mirror/reports.ts).
    { name: RELAY_KEY_ENTRY, source: await relayKeyFor(dir, options.forMirror) },
    { name: 'metadata/timestamp.json', source: Buffer.from(JSON.stringify(timestamp.timestamp)) },
    ...metadataNames.map((n) => ({ name: `metadata/${n}`, source: join(metadataDir, n) })),
    ...[...lacking].sort().map((sha) => ({ name: `store/${sha}`, source: storePath(dir, sha) })),
  ];
  const entries: BundleEntry[] = [];
  for (const file of files) entries.push({ name: file.name, ...(typeof file.source === 'string' ? await sha256OfFile(file.source) : { sha256: createHash('sha256').update(file.source).digest('hex'), length: file.source.length }) });
  const manifest: BundleManifest = {
    kind: BUNDLE_KIND,
    createdAt: new Date().toISOString(),
    from: config.mirrorId,
    for: options.forMirror,
    licenseId: lease.signed.licenseId,
    versions: served.versions,
    ...(options.since && { since: options.since }),
    entries,
  };

  const pack = tar.pack();
  const written = pipeline(pack, createWriteStream(`${options.out}.partial`));
  const add = async (name: string, source: string | Buffer, size: number) => {
    if (typeof source !== 'string') {
      await new Promise<void>((resolve, reject) => pack.entry({ name, size }, source, (error) => (error ? reject(error) : resolve())));
      return;
    }
    const entry = pack.entry({ name, size });
    await pipeline(createReadStream(source), entry);
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  await add('bundle.json', manifestBytes, manifestBytes.length);
  for (const [i, file] of files.entries()) await add(file.name, file.source, entries[i]?.length ?? 0);
  pack.finalize();
  await written;
  await rename(`${options.out}.partial`, options.out);
  return manifest;
}

/** tuf-js reading a bundle's metadata from where it was unpacked. */
class BundleFetcher extends BaseFetcher {
  /** The files the refresh read (and so verified). */
  readonly read = new Set<string>();

  constructor(private readonly metadataDir: string) {
    super();
  }

  override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    const name = url.slice(url.lastIndexOf('/') + 1);
    try {
      const bytes = await readFile(join(this.metadataDir, name));
      this.read.add(name);
      return new Blob([bytes]).stream() as unknown as ReadableStream<Uint8Array<ArrayBuffer>>;
    } catch {
      throw new DownloadHTTPError(`${name} is not in the bundle`, 404);
    }
  }
}

/** bundle.json, checked for the shape import relies on. */
function parseBundleManifest(bytes: Buffer): BundleManifest {
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(bytes.toString('utf8')) as BundleManifest;
  } catch {
    throw new MirrorError('not a Signet bundle (bundle.json is not JSON)');
  }
  if (manifest?.kind !== BUNDLE_KIND || !Array.isArray(manifest.entries) || typeof manifest.versions !== 'object' || manifest.versions === null) throw new MirrorError('not a Signet bundle');
  for (const entry of manifest.entries) {
    if (typeof entry?.name !== 'string' || !/^(lease\.json|relay\.key|metadata\/[A-Za-z0-9._-]+|store\/[0-9a-f]{64})$/.test(entry.name)) throw new MirrorError(`bundle.json lists an entry it may not: ${String(entry?.name)}`);
    if (typeof entry.sha256 !== 'string' || !Number.isSafeInteger(entry.length) || entry.length < 0) throw new MirrorError(`bundle.json lists ${entry.name} without its hash and length`);
    // The store is content-addressed: a file is found by the name, so the name must be its hash.
    if (entry.name.startsWith('store/') && entry.name !== `store/${entry.sha256}`) throw new MirrorError(`bundle.json lists ${entry.name} with another hash`);
  }
  return manifest;
}

/** Unpacks into `staging`, hashing each entry against bundle.json (which comes first). */
async function unpack(file: string, staging: string): Promise<BundleManifest> {
  let manifest: BundleManifest | undefined;
  const expected = new Map<string, BundleEntry>();
  const seen = new Set<string>();
  const extract = tar.extract();
  const input = createReadStream(file);
  input.on('error', (error) => extract.destroy(error));
  input.pipe(extract);
  try {
    for await (const entry of extract) {
      const name = entry.header.name;
      if (!manifest) {
        if (name !== 'bundle.json' || entry.header.size === undefined || entry.header.size > MAX_BUNDLE_JSON_BYTES) throw new MirrorError('not a Signet bundle (no bundle.json first)');
        const chunks: Buffer[] = [];
        for await (const chunk of entry) chunks.push(chunk as Buffer);
        manifest = parseBundleManifest(Buffer.concat(chunks));
        for (const listed of manifest.entries) expected.set(listed.name, listed);
        continue;
      }
      const listed = expected.get(name);
      if (!listed || seen.has(name)) throw new MirrorError(`the bundle holds ${name}, which bundle.json does not list`);
      seen.add(name);
      const target = join(staging, name);
      await mkdir(join(target, '..'), { recursive: true });
      // Hashed as written: an entry is read once, never held whole.
      const hash = createHash('sha256');
      let length = 0;
      const out = await open(target, 'w', 0o600);
      try {
        for await (const chunk of entry) {
          hash.update(chunk as Buffer);
          length += (chunk as Buffer).length;
          if (length > listed.length) break;
          await out.write(chunk as Buffer);
        }
      } finally {
        await out.close();
      }
      if (length !== listed.length || hash.digest('hex') !== listed.sha256) throw new MirrorError(`${name} in the bundle does not match bundle.json (changed or cut short)`);
    }
  } catch (error) {
    throw error instanceof MirrorError ? error : new MirrorError(`the bundle cannot be read to its end (${error instanceof Error ? error.message : String(error)}): it is cut short or not a bundle`);
  } finally {
    input.destroy();
  }
  if (!manifest) throw new MirrorError('the bundle is empty');
  const missing = [...expected.keys()].filter((n) => !seen.has(n));
  if (missing.length > 0) throw new MirrorError(`the bundle is cut short: ${missing.length} of its entries are missing`);
  return manifest;
}

/**
 * Metadata in the bundle the refresh did not read must still be what it claims: the
 * snapshot and targets metadata this mirror trusts already (a bundle over the same
 * snapshot: the refresh read them from the trusted copies), byte for byte; and root
 * versions up to the one this mirror trusts (for agents that trust older ones), which must
 * chain to it. Anything else is refused.
 */
async function checkUnreadMetadata(dir: string, staging: string, manifest: BundleManifest, read: ReadonlySet<string>, trustedRootBytes: Buffer): Promise<void> {
  const trusted = parseRoot(trustedRootBytes).signed.version;
  const unread = manifest.entries.filter((e) => e.name.startsWith('metadata/') && !read.has(e.name.slice('metadata/'.length)));
  const trustedCopies = await trustedVersioned(join(staging, 'tuf'));
  const roots = unread.filter((entry) => trustedCopies.get(entry.name.slice('metadata/'.length)) !== entry.sha256);
  if (roots.length === 0) return;
  for (const entry of roots) {
    const version = /^metadata\/(\d+)\.root\.json$/.exec(entry.name)?.[1];
    if (version === undefined || Number(version) > trusted) throw new MirrorError(`the bundle carries ${entry.name}, which its signed metadata does not lead to`);
  }
  const chain: Buffer[] = [];
  for (let n = 1; n < trusted; n++) {
    const bytes = (await readFile(join(staging, 'metadata', `${n}.root.json`)).catch(() => undefined)) ?? (await readFile(join(paths(dir).metadata, `${n}.root.json`)).catch(() => undefined));
    if (!bytes) throw new MirrorError(`the bundle's earlier root versions cannot be checked: ${n}.root.json is neither in it nor here`);
    chain.push(bytes);
  }
  const own = await readFile(join(staging, 'metadata', `${trusted}.root.json`)).catch(() => undefined);
  if (own && !own.equals(trustedRootBytes)) throw new MirrorError(`the bundle's ${trusted}.root.json is not the root this mirror trusts`);
  chain.push(trustedRootBytes);
  const broken = rootChainBreak(chain.map((bytes) => parseRoot(bytes)));
  if (broken !== undefined) throw new MirrorError(`the bundle's ${broken}.root.json does not chain to the root this mirror trusts`);
}

/** The served names of the trusted snapshot and targets metadata in `tuf`, with the SHA-256 of their bytes. */
async function trustedVersioned(tuf: string): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
  const snapshot = await readFile(join(tuf, 'snapshot.json')).catch(() => undefined);
  if (snapshot) names.set(`${parseSnapshot(snapshot).signed.version}.snapshot.json`, sha(snapshot));
  const targets = await readFile(join(tuf, 'targets.json')).catch(() => undefined);
  if (targets) names.set(`${parseTargets(targets).signed.version}.targets.json`, sha(targets));
  return names;
}

/**
 * The bundle's lease, if it may replace the one held: signed by the service for this mirror
 * and license, not expired, issued for this bundle (it names the bundle's timestamp
 * version), and no older than the lease held (docs/mirror.md, "The lease ordering rule").
 */
async function bundleLease(dir: string, config: MirrorConfig, staging: string, root: Root, timestampVersion: number): Promise<SignedLease> {
  const lease = await readFile(join(staging, 'lease.json'), 'utf8').then(
    (text) => JSON.parse(text) as SignedLease,
    () => undefined,
  );
  if (!lease || typeof lease !== 'object') throw new MirrorError("the bundle's lease.json is not JSON: export the bundle again");
  const verdict = verifyLease(lease, root, { mirrorId: config.mirrorId, ...(config.licenseId && { licenseId: config.licenseId }), now: new Date() });
  if (!verdict.ok) throw new MirrorError(`the bundle's lease is refused: ${verdict.reason}`);
  if (verdict.lease.timestampVersion !== timestampVersion) {
    throw new MirrorError(`the bundle's lease is refused: it was issued for ${verdict.lease.timestampVersion === undefined ? 'no bundle' : `the bundle of timestamp version ${verdict.lease.timestampVersion}`}, and this bundle's timestamp is version ${timestampVersion}: export the bundle again`);
  }
  const older = leaseOlderThanHeld(verdict.lease, await heldLease(dir));
  if (older) throw new MirrorError(`the bundle's lease is refused: ${older}`);
  return lease;
}

export interface ImportResult {
  readonly kind: 'bundle' | 'reports';
  /** The license the bundle was made under (a mirror's first import adopts it). */
  readonly licenseId?: string;
  readonly versions?: Readonly<Record<string, readonly string[]>>;
  readonly files?: number;
  readonly reports?: number;
  readonly leaseExpiresAt?: string;
  readonly metadataExpiresAt?: string;
  readonly snapshotVersion?: number;
  /** The bundle held nothing this mirror did not hold already (the same bundle again): nothing changed. */
  readonly unchanged?: boolean;
}

/** Verifies a bundle whole, then puts it in place; anything wrong and the mirror is left as it was. */
export async function importBundle(dir: string, config: MirrorConfig, file: string): Promise<ImportResult> {
  await recoverView(dir);
  const staging = join(dir, `import-${randomBytes(6).toString('hex')}`);
  await mkdir(staging, { recursive: true, mode: 0o700 });
  try {
    const manifest = await unpack(file, staging);
    crashPoint('import:unpacked');
    if (manifest.for !== config.mirrorId) throw new MirrorError(`the bundle is for mirror ${manifest.for}, not for this one (${config.mirrorId})`);
    if (config.licenseId && manifest.licenseId !== config.licenseId) throw new MirrorError('the bundle was made for another license');
    const tuf = await refreshFromBundle(dir, staging, manifest);
    const root = parseRoot(await readFile(join(tuf, 'root.json'))).signed;
    const targets = parseTargets(await readFile(join(tuf, 'targets.json'))).signed;
    const timestampBytes = await readFile(join(staging, 'metadata', 'timestamp.json')).catch(() => {
      throw new MirrorError('the bundle carries no metadata/timestamp.json: export it again');
    });
    const timestamp = parseTimestamp(timestampBytes);
    const lease = await bundleLease(dir, config, staging, root, timestamp.signed.version);
    const served = await servedOf(dir, staging, manifest, targets);
    // Kept even when nothing else changes: importing a bundle again hands its key over again.
    await keepBundleRelayKey(dir, staging, manifest);
    const result: ImportResult = {
      kind: 'bundle',
      licenseId: manifest.licenseId,
      snapshotVersion: timestamp.signed.snapshotMeta.version,
      versions: Object.fromEntries(Object.entries(served.versions).map(([p, v]) => [p, Object.keys(v)])),
      files: manifest.entries.filter((e) => e.name.startsWith('store/')).length,
      leaseExpiresAt: lease.signed.expiresAt,
      metadataExpiresAt: timestamp.signed.expires,
    };
    if (await alreadyHeld(dir, timestampBytes, lease)) return { ...result, unchanged: true };

    // Into place: content and versioned metadata (immutable names), then the view's switch.
    await mkdir(storeDir(dir), { recursive: true });
    for (const name of await readdir(join(staging, 'store')).catch(() => [] as string[])) await rename(join(staging, 'store', name), storePath(dir, name));
    crashPoint('import:store-moved');
    for (const name of await readdir(join(staging, 'metadata'))) if (name !== 'timestamp.json') await rename(join(staging, 'metadata', name), join(paths(dir).metadata, name));
    await writeVersionedMetadata(dir, tuf);
    const next: Served = { ...served, snapshotVersion: timestamp.signed.snapshotMeta.version, at: new Date().toISOString() };
    await switchView(dir, { tuf, served: next, lease, timestamp: timestampBytes });
    return result;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** The relay key a bundle carries, kept; a bundle of an older mirror carries none, and the one held stays. */
async function keepBundleRelayKey(dir: string, staging: string, manifest: BundleManifest): Promise<void> {
  if (!manifest.entries.some((entry) => entry.name === RELAY_KEY_ENTRY)) return;
  await keepRelayKey(dir, await readFile(join(staging, RELAY_KEY_ENTRY)));
}

/** TUF, from this mirror's trusted metadata (a copy: a refusal must leave it as it was); returns the copy, refreshed. */
async function refreshFromBundle(dir: string, staging: string, manifest: BundleManifest): Promise<string> {
  const tuf = join(staging, 'tuf');
  await cp(paths(dir).tuf, tuf, { recursive: true });
  const trustedRoot = await readFile(join(tuf, 'root.json'));
  const fetcher = new BundleFetcher(join(staging, 'metadata'));
  const updater = new Updater({ metadataDir: tuf, metadataBaseUrl: 'http://bundle.invalid/metadata', targetBaseUrl: 'http://bundle.invalid/targets', fetcher });
  await updater.refresh().catch((error: unknown) => {
    throw new MirrorError(`the bundle's metadata is refused: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
  });
  await checkUnreadMetadata(dir, staging, manifest, fetcher.read, trustedRoot);
  return tuf;
}

/** The same timestamp and lease as held: the bundle was imported already. */
async function alreadyHeld(dir: string, timestampBytes: Buffer, lease: SignedLease): Promise<boolean> {
  const heldTimestamp = await readFile(join(paths(dir).metadata, 'timestamp.json')).catch(() => undefined);
  const held = await readFile(paths(dir).lease, 'utf8').catch(() => undefined);
  return heldTimestamp !== undefined && heldTimestamp.equals(timestampBytes) && held !== undefined && canonicalLease(held) === JSON.stringify(lease);
}

function canonicalLease(text: string): string | undefined {
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/** Every version the bundle names: its set manifest and files, signed, here or in the bundle; the index of what is then served. */
async function servedOf(dir: string, staging: string, manifest: BundleManifest, targets: Targets): Promise<Pick<Served, 'targets' | 'versions'>> {
  const have = async (sha: string, length: number) => {
    for (const place of [join(staging, 'store', sha), storePath(dir, sha)]) if ((await stat(place).catch(() => undefined))?.size === length) return place;
    return undefined;
  };
  const served: { targets: Record<string, { sha256: string; length: number }>; versions: Record<string, Record<string, string>> } = { targets: {}, versions: {} };
  for (const [product, versions] of Object.entries(manifest.versions)) {
    const signed = new Map(versionsIn(targets, product).map((v) => [v.version, v]));
    for (const [version, setPath] of Object.entries(versions)) {
      const info = targets.targets[setPath];
      if (!signed.has(version) || signed.get(version)?.path !== setPath || !info) throw new MirrorError(`${product} ${version} is not in the signed targets metadata`);
      const setSha = info.hashes.sha256 ?? '';
      const setFile = await have(setSha, info.length);
      if (!setFile) throw new MirrorError(`the set manifest of ${product} ${version} is neither in the bundle nor here`);
      served.targets[consistentName(setPath, setSha)] = { sha256: setSha, length: info.length };
      for (const f of parseSetManifest(await readFile(setFile)).files) {
        const fileInfo = targets.targets[f.target];
        if (!fileInfo || fileInfo.hashes.sha256 !== f.sha256 || fileInfo.length !== f.length) throw new MirrorError(`${product} ${version}: ${f.path} is not signed as the set says`);
        if (!(await have(f.sha256, f.length))) throw new MirrorError(`${product} ${version}: ${f.path} is neither in the bundle nor here (export without --since, or with an older one)`);
        served.targets[consistentName(f.target, f.sha256)] = { sha256: f.sha256, length: f.length };
        // Its patches when signed as listed and at hand; without them agents here fetch the whole file.
        for (const patch of listedPatches(f)) {
          if (signsPatch(targets.targets[patch.target], product, patch) && (await have(patch.sha256, patch.length))) served.targets[consistentName(patch.target, patch.sha256)] = { sha256: patch.sha256, length: patch.length };
        }
      }
      (served.versions[product] ??= {})[version] = setPath;
    }
  }
  // A file of the bundle no signed target names has no business here.
  for (const entry of manifest.entries.filter((e) => e.name.startsWith('store/'))) {
    if (!Object.values(served.targets).some((t) => t.sha256 === entry.sha256)) throw new MirrorError(`the bundle carries ${entry.name}, which no version it names uses`);
  }
  return served;
}
