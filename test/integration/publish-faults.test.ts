/**
 * A publish killed at each step, then run again with the real CLI: the repository
 * verifies with an independent TUF client, and the release is never visible twice or
 * half. The kills are simulated in-process: `publish()` from lib/releases/publish.ts
 * runs with the stack's real bucket and table, and an injected dependency throws at the
 * chosen moment. Neither `publish()` nor `commitRelease()` has cleanup code (no
 * finally, no rollback), so a throw there leaves exactly what a SIGKILL would.
 *
 * Also: publishers racing each other must both end up in the final targets metadata.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { s3Uploader } from '#lib/aws/upload.ts';
import type { PublishDeps, PublishSummary } from '#lib/releases/publish.ts';
import { publish } from '#lib/releases/publish.ts';
import type { CommitResult, RepositoryDeps } from '#lib/releases/repository.ts';
import { commitRelease, refreshTimestamp } from '#lib/releases/repository.ts';
import type { ReleaseStore } from '#lib/releases/store.ts';
import { parseTargets } from '#lib/tuf/metadata.ts';
import { tufSigner } from '#local/tuf-keys.ts';
import { runSignet } from '#test/support/cli.ts';
import type { TufClient } from '#test/support/tuf-client.ts';
import { publishWithCli, setTargetsOf, stackRepositoryDeps, tufClient } from '#test/support/tuf-client.ts';

const stack = inject('stack');
const actor = 'arn:aws:iam::000000000000:user/publish-faults-test';

class Killed extends Error {
  constructor(at: string) {
    super(`killed ${at}`);
  }
}

let deps: Awaited<ReturnType<typeof stackRepositoryDeps>>;
const clients: TufClient[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  deps = await stackRepositoryDeps(stack);
});

afterAll(async () => {
  // Whatever a failed assertion left half done, the next poll of the shared stack sees a consistent repository.
  await refreshTimestamp(deps);
  await Promise.all([...clients.map((c) => c.dispose()), ...dirs.map((d) => rm(d, { recursive: true, force: true }))]);
  deps?.destroy();
});

function filesOf(product: string, version: string): Record<string, string> {
  return { 'main.sig': `${product} main signatures\n`.repeat(40), [`delta-${version}.sig`]: `${product} ${version} delta\n`, 'engine.cfg': 'heuristics=on\n' };
}

async function setDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'signet-fault-'));
  dirs.push(dir);
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  return dir;
}

/** The store, with `commit` replaced (the DynamoDB transaction that is the commit point). */
function storeWithCommit(store: ReleaseStore, commit: ReleaseStore['commit']): ReleaseStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'commit') return commit;
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

interface Faults {
  /** Runs when publish asks for the repository's targets version: every upload is done by then. */
  readonly beforeTargetsVersion?: () => void;
  /** Runs with the signed targets, instead of or before sending the commit. */
  readonly beforeCommit?: (targets: unknown) => void | Promise<void>;
  /** Runs when the commit has answered, before publish returns. */
  readonly afterCommit?: (result: CommitResult) => void;
  /** The service side of the commit (in-process commitRelease) with these repository deps. */
  readonly repository?: RepositoryDeps;
}

/** `publish()` as `signet publish` wires it, with the service's commitRelease in-process and faults injected. */
async function publishInProcess(product: string, version: string, faults: Faults = {}): Promise<PublishSummary & { uploads: string[] }> {
  const uploads: string[] = [];
  const uploader = s3Uploader(deps.s3, stack.bucket);
  const service = faults.repository ?? deps;
  const publishDeps: PublishDeps = {
    objects: deps.objects,
    upload: async (key, file, sha256, length) => {
      await uploader(key, file, sha256, length);
      uploads.push(key);
    },
    repository: {
      targetsVersion: async () => {
        faults.beforeTargetsVersion?.();
        return (await deps.store.repositoryState())?.targetsVersion ?? 0;
      },
      commit: async (body) => {
        await faults.beforeCommit?.(body.targets);
        const result = await commitRelease(service, body, actor);
        faults.afterCommit?.(result);
        return result;
      },
    },
    targetsSigner: await tufSigner(stack.dataDir, 'targets'),
    now: () => new Date(),
  };
  const summary = await publish(publishDeps, { product, version, dir: await setDir(filesOf(product, version)) });
  return { ...summary, uploads };
}

async function freshClient(product: string): Promise<TufClient> {
  const client = await tufClient(stack, [product]);
  clients.push(client);
  await client.updater.refresh();
  return client;
}

async function auditEntries(product: string, version: string): Promise<unknown[]> {
  const result = await runSignet(['audit', '--json', '--data-dir', stack.dataDir]);
  expect(result.code, result.stderr).toBe(0);
  const entries = JSON.parse(result.stdout) as Array<{ action: string; subject: string }>;
  return entries.filter((e) => e.action === 'release.publish' && e.subject === `${product} ${version}`);
}

/** What a client sees of `product` `version`: nothing, or the whole set, never a part. */
async function expectInvisible(product: string, version: string): Promise<void> {
  const client = await freshClient(product);
  expect(await setTargetsOf(client, product)).toEqual([]);
  expect(await deps.store.release(product, version)).toBeUndefined();
}

/** Exactly one set manifest for the version, every file it lists verifies, the release is recorded and audited once. */
async function expectPublishedOnce(product: string, version: string): Promise<void> {
  const client = await freshClient(product);
  const sets = (await setTargetsOf(client, product)).filter((s) => s.version === version);
  expect(sets, `set manifests of ${product} ${version} in the targets metadata`).toHaveLength(1);
  const manifest = await client.setManifest(sets[0]?.path ?? '');
  const expected = filesOf(product, version);
  expect(manifest.files.map((f) => f.path).sort()).toEqual(Object.keys(expected).sort());
  for (const file of manifest.files) expect((await client.download(file.target)).toString('utf8')).toBe(expected[file.path]);
  expect((await deps.store.release(product, version))?.setManifestPath).toBe(sets[0]?.path);
  expect(await auditEntries(product, version)).toHaveLength(1);
}

async function rerunWithCli(product: string, version: string) {
  const result = await publishWithCli(stack, product, version, filesOf(product, version));
  expect(result.code, result.stderr).toBe(0);
  return result.summary as NonNullable<typeof result.summary>;
}

describe('a publish killed, then run again with the CLI', () => {
  it('killed after the upload: nothing visible; the re-run uploads nothing more and publishes once', async () => {
    const product = 'fault-upload-av';
    await expect(
      publishInProcess(product, '1.0.0', {
        beforeTargetsVersion: () => {
          throw new Killed('after the upload');
        },
      }),
    ).rejects.toThrow(Killed);
    expect((await deps.objects.list(`targets/${product}/`)).size).toBe(4); // three files and the set manifest
    await expectInvisible(product, '1.0.0');

    const rerun = await rerunWithCli(product, '1.0.0');
    expect(rerun).toMatchObject({ alreadyPublished: false, uploadedFiles: 0 });
    await expectPublishedOnce(product, '1.0.0');
  });

  it('killed after signing, before the commit was sent: nothing visible; the re-run publishes once', async () => {
    const product = 'fault-sign-av';
    let signed: unknown;
    await expect(
      publishInProcess(product, '1.0.0', {
        beforeCommit: (targets) => {
          signed = targets;
          throw new Killed('after signing');
        },
      }),
    ).rejects.toThrow(Killed);
    expect(Object.keys(parseTargets(JSON.stringify(signed)).signatures)).toHaveLength(1);
    await expectInvisible(product, '1.0.0');

    expect(await rerunWithCli(product, '1.0.0')).toMatchObject({ alreadyPublished: false, uploadedFiles: 0 });
    await expectPublishedOnce(product, '1.0.0');
  });

  it('killed inside the commit, with the new metadata files written but before the commit point: nothing visible; the re-run publishes once', async () => {
    const product = 'fault-precommit-av';
    const before = await deps.store.repositoryState();
    const repository: RepositoryDeps = {
      ...deps,
      store: storeWithCommit(deps.store, async () => {
        throw new Killed('before the commit point');
      }),
    };
    await expect(publishInProcess(product, '1.0.0', { repository })).rejects.toThrow(Killed);
    // Whatever metadata the commit wrote before dying, nothing points at it: the state did not move.
    expect(await deps.store.repositoryState()).toEqual(before);
    await expectInvisible(product, '1.0.0');

    expect(await rerunWithCli(product, '1.0.0')).toMatchObject({ alreadyPublished: false, uploadedFiles: 0 });
    await expectPublishedOnce(product, '1.0.0');
  });

  it('killed after the commit point, before timestamp.json was written: nothing visible yet; the re-run makes it visible, once', async () => {
    const product = 'fault-commit-av';
    const repository: RepositoryDeps = {
      ...deps,
      objects: {
        ...deps.objects,
        put: async (key, body, contentType) => {
          if (key === 'metadata/timestamp.json') throw new Killed('after the commit point');
          return deps.objects.put(key, body, contentType);
        },
      },
    };
    await expect(publishInProcess(product, '1.0.0', { repository })).rejects.toThrow(Killed);
    // Committed (the release record exists) but not visible: timestamp.json still names the previous snapshot.
    expect(await deps.store.release(product, '1.0.0')).toBeDefined();
    expect(await setTargetsOf(await freshClient(product), product)).toEqual([]);

    expect(await rerunWithCli(product, '1.0.0')).toMatchObject({ alreadyPublished: true, uploadedFiles: 0 });
    await expectPublishedOnce(product, '1.0.0');
  });

  it('killed after the commit answered (before printing): visible once; the re-run says already published', async () => {
    const product = 'fault-answered-av';
    await expect(
      publishInProcess(product, '1.0.0', {
        afterCommit: () => {
          throw new Killed('after the commit answered');
        },
      }),
    ).rejects.toThrow(Killed);
    await expectPublishedOnce(product, '1.0.0');

    const before = await deps.store.repositoryState();
    expect(await rerunWithCli(product, '1.0.0')).toMatchObject({ alreadyPublished: true, uploadedFiles: 0 });
    expect((await deps.store.repositoryState())?.targetsVersion).toBe(before?.targetsVersion);
    await expectPublishedOnce(product, '1.0.0');
  });
});

describe('publishers racing each other', () => {
  it('two CLI publishes of different products at once: both releases end up in the final targets metadata', async () => {
    const [a, b] = await Promise.all([publishWithCli(stack, 'race-cli-a-av', '2.0.0', filesOf('race-cli-a-av', '2.0.0')), publishWithCli(stack, 'race-cli-b-av', '3.1.0', filesOf('race-cli-b-av', '3.1.0'))]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    await expectPublishedOnce('race-cli-a-av', '2.0.0');
    await expectPublishedOnce('race-cli-b-av', '3.1.0');
  });

  it('two commits that both build on the same targets version: the loser retries on the winner\'s metadata, and neither release is lost', async () => {
    // Deterministic interleaving: both publishers build on the same targets version N. A
    // reaches the commit point (the DynamoDB transaction) first, having written whatever
    // it writes before it; B's commit then runs up to the same point (A has not committed
    // yet, so B sees N too); A commits completely (timestamp included), and only then does
    // B try its transaction, lose, and rebuild on what A committed.
    const gate = () => {
      let open!: () => void;
      const opened = new Promise<void>((resolve) => (open = resolve));
      return { open, opened: Promise.race([opened, new Promise<void>((resolve) => setTimeout(resolve, 5_000))]) };
    };
    const aArrived = gate();
    const bArrived = gate();
    const aDone = gate();
    const holdAt = (who: 'a' | 'b'): RepositoryDeps => {
      let first = true;
      return {
        ...deps,
        store: storeWithCommit(deps.store, async (input) => {
          if (first) {
            first = false;
            if (who === 'a') {
              aArrived.open();
              await bArrived.opened;
            } else {
              bArrived.open();
              await aArrived.opened;
              await aDone.opened;
            }
          }
          return deps.store.commit(input);
        }),
      };
    };
    const [a, b] = await Promise.allSettled([
      publishInProcess('race-lib-a-av', '1.0.0', { repository: holdAt('a'), afterCommit: () => aDone.open() }),
      publishInProcess('race-lib-b-av', '1.0.0', { repository: holdAt('b'), beforeCommit: () => aArrived.opened }),
    ]);
    aDone.open();
    expect(a.status === 'fulfilled' ? a.value.alreadyPublished : a.reason).toBe(false);
    expect(b.status === 'fulfilled' ? b.value.alreadyPublished : b.reason).toBe(false);
    if (a.status === 'fulfilled' && b.status === 'fulfilled') expect(b.value.targetsVersion).toBe(a.value.targetsVersion + 1);
    // The targets metadata A's release was committed in must still be A's: a loser must not overwrite it.
    const committedA = await deps.store.release('race-lib-a-av', '1.0.0');
    const targetsOfA = parseTargets((await deps.objects.get(`metadata/${committedA?.targetsVersion}.targets.json`)) ?? Buffer.from('{}')).signed.targets;
    expect(Object.keys(targetsOfA), `${committedA?.targetsVersion}.targets.json lists A's set manifest`).toContain(committedA?.setManifestPath);

    await expectPublishedOnce('race-lib-b-av', '1.0.0');
    await expectPublishedOnce('race-lib-a-av', '1.0.0');
  });
});
