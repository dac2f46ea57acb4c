/**
 * The signed repository in memory, for unit tests of its use cases (lib/releases/repository.ts)
 * without DynamoDB or S3: the repository state item with the store's commit rule (only
 * over the revision read), the bucket as a map, and a repository published at a given
 * time, so a test can run the use cases at any later time through `deps.now`.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { Metadata, Targets } from '@tufjs/models';
import type { Root } from '@tufjs/models';
import type { ObjectStore } from '#lib/aws/objects.ts';
import type { RepositoryDeps } from '#lib/releases/repository.ts';
import type { Release, ReleaseStore, RepositoryState } from '#lib/releases/store.ts';
import { compareVersions } from '#lib/releases/versions.ts';
import { expiresIn, newRoot, newSnapshot, signMetadata, SPEC_VERSION, toBytes } from '#lib/tuf/metadata.ts';
import type { Signer } from '#lib/tuf/signer.ts';
import { pemSigner } from '#lib/tuf/signer.ts';

const pem = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

/** One key per role, for every repository of a test file. */
export const repositoryKeys = { root: pemSigner(pem()), targets: pemSigner(pem()), snapshot: pemSigner(pem()), timestamp: pemSigner(pem()) };

export const DAY_MS = 86_400_000;

/** The repository state item and the bucket, in memory, with the store's commit rule (only over the revision read). */
export class MemoryRepository {
  state: RepositoryState | undefined;
  readonly objects = new Map<string, Buffer>();
  readonly audits: unknown[] = [];

  /** Committed releases, by `product version`. */
  readonly releases = new Map<string, Release>();

  readonly store = {
    repositoryState: async () => this.state,
    commit: async (input: { expected: RepositoryState | undefined; next: RepositoryState; release?: Release; audit?: unknown }) => {
      if (this.state?.revision !== input.expected?.revision) return false;
      this.state = input.next;
      if (input.release) this.releases.set(`${input.release.product} ${input.release.version}`, input.release);
      if (input.audit) this.audits.push(input.audit);
      return true;
    },
    release: async (product: string, version: string) => this.releases.get(`${product} ${version}`),
    latestRelease: async (product: string) => [...this.releases.values()].filter((r) => r.product === product).sort((a, b) => compareVersions(b.version, a.version))[0],
  } as unknown as ReleaseStore;

  readonly bucket: ObjectStore = {
    get: async (key) => this.objects.get(key),
    download: async (key, file) => {
      const bytes = this.objects.get(key);
      if (bytes) await writeFile(file, bytes);
      return bytes !== undefined;
    },
    exists: async (key) => this.objects.has(key),
    put: async (key, body) => void this.objects.set(key, body),
    list: async (prefix) => new Set([...this.objects.keys()].filter((k) => k.startsWith(prefix))),
  };
}

/** A published repository signed at `signedAt`: root 1, targets 1 (expiring in `targetsDays`), snapshot 1, timestamp 1. */
export async function publishedRepository(signedAt: Date, options: { targetsDays?: number; rootDays?: number } = {}): Promise<{ repo: MemoryRepository; root: Root }> {
  const keys = repositoryKeys;
  const repo = new MemoryRepository();
  const root = newRoot({ keys: { root: [keys.root.key], targets: [keys.targets.key], snapshot: [keys.snapshot.key], timestamp: [keys.timestamp.key] }, now: signedAt });
  if (options.rootDays !== undefined) (root.signed as { expires: string }).expires = expiresIn(options.rootDays, signedAt);
  await signMetadata(root, [keys.root]);
  repo.objects.set('metadata/1.root.json', toBytes(root));
  const targets = await signMetadata(new Metadata(new Targets({ version: 1, specVersion: SPEC_VERSION, expires: expiresIn(options.targetsDays ?? 365, signedAt) })), [keys.targets]);
  repo.objects.set('metadata/1.targets.json', toBytes(targets));
  const snapshot = await signMetadata(newSnapshot(1, 1, signedAt), [keys.snapshot]);
  repo.objects.set('metadata/1.snapshot.json', toBytes(snapshot));
  repo.state = { rootVersion: 1, targetsVersion: 1, snapshotVersion: 1, timestampVersion: 1, revision: 4, updatedAt: signedAt.toISOString() };
  return { repo, root: root.signed };
}

/** The use cases' dependencies over `repo`, at the time `now` says; `signers` replaces the online keys. */
export function memoryRepositoryDeps(repo: MemoryRepository, now: () => Date, signers: Partial<RepositoryDeps['signers']> = {}): RepositoryDeps {
  const online: { snapshot: Signer; timestamp: Signer } = { snapshot: repositoryKeys.snapshot, timestamp: repositoryKeys.timestamp, ...signers };
  return { store: repo.store, objects: repo.bucket, signers: online, now, timestampExpiryHours: 24 };
}
