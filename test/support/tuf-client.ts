/**
 * An independent TUF client for tests: tuf-js's `Updater` over a fresh metadata dir
 * seeded with the stack's trusted root, fetching `/metadata/*` as is and `/targets/*`
 * with a CloudFront-style signed-URL grant appended, as an agent would. It runs at
 * tuf-js's default settings: it asks for each target at the name consistent snapshots
 * derive from its path (`<dir>/<sha256>.<basename>`), as any TUF client would.
 *
 * Also: the repository's own wiring (store, bucket, online signers) built in-process
 * against the stack's local services, for tests that tamper with metadata and heal it
 * with the service's timestamp refresh, or drive the publish library with faults.
 */
import { defaultRuntimeSettings } from '#lib/config.ts';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/cloudfront-signer';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { TargetFile } from '@tufjs/models';
import { Updater } from 'tuf-js';
import { DefaultFetcher } from 'tuf-js/dist/fetcher.js';
import { s3ObjectStore } from '#lib/aws/objects.ts';
import { cacheControlFor } from '#lib/definitions/bucket.ts';
import { localTableName, mainTable } from '#lib/definitions/tables.ts';
import type { RepositoryDeps } from '#lib/releases/repository.ts';
import type { SetManifest } from '#lib/releases/set-manifest.ts';
import { parseSetManifest } from '#lib/releases/set-manifest.ts';
import { ReleaseStore } from '#lib/releases/store.ts';
import { parseTargets } from '#lib/tuf/metadata.ts';
import { readLocalCdnKey } from '#lib/cdn/key-files.ts';
import { localS3Client } from '#local/s3-local.ts';
import { rootPath, tufSigner } from '#local/tuf-keys.ts';
import { runSignet } from './cli.ts';

export interface StackRef {
  readonly baseUrl: string;
  readonly dataDir: string;
  readonly s3Endpoint: string;
  readonly dynamodbEndpoint: string;
  readonly bucket: string;
}

/**
 * The query string (no `?`) of a CloudFront custom-policy signed URL granting every
 * target of `product`: one signature with a wildcard resource `<baseUrl>/targets/<product>/*`,
 * appended to each target URL, as the manifest API hands agents `download.query`.
 */
export async function signTargetsGrant(stack: Pick<StackRef, 'baseUrl' | 'dataDir'>, product: string, expiresInSeconds = 3600): Promise<string> {
  const { keyPairId, privateKeyPem } = await readLocalCdnKey(stack.dataDir);
  const resource = `${stack.baseUrl}/targets/${product}/*`;
  const epoch = Math.floor(Date.now() / 1000) + expiresInSeconds;
  const policy = JSON.stringify({ Statement: [{ Resource: resource, Condition: { DateLessThan: { 'AWS:EpochTime': epoch } } }] });
  const signed = getSignedUrl({ url: `${stack.baseUrl}/targets/${product}/grant`, policy, keyPairId, privateKey: privateKeyPem, algorithm: 'SHA256' });
  return new URL(signed).search.slice(1);
}

/** tuf-js's own fetcher, with the product's grant appended to target URLs. */
class SignedTargetsFetcher extends DefaultFetcher {
  /** Every target URL asked for, without the grant: what the client derived from the target paths. */
  readonly targetUrls: string[] = [];

  constructor(
    private readonly targetsBase: string,
    private readonly grants: ReadonlyMap<string, string>,
  ) {
    super({ userAgent: 'signet-test', retry: false, timeout: 30_000 });
  }

  override fetch(url: string): ReturnType<DefaultFetcher['fetch']> {
    if (!url.startsWith(this.targetsBase)) return super.fetch(url);
    this.targetUrls.push(url);
    const product = url.slice(this.targetsBase.length).split('/')[0] ?? '';
    const query = this.grants.get(product);
    return super.fetch(query ? `${url}${url.includes('?') ? '&' : '?'}${query}` : url);
  }
}

export interface TufClient {
  readonly updater: Updater;
  /** Where the client keeps its trusted metadata (root.json, timestamp.json, ...). */
  readonly metadataDir: string;
  readonly targetDir: string;
  /** A new Updater over the same metadata dir: a client that remembers what it trusted. */
  reopen(): TufClient;
  /** Every target URL it asked for (without the grant). */
  readonly targetUrls: readonly string[];
  /** Verifies and downloads a target by path; the bytes on success. */
  download(targetPath: string): Promise<Buffer>;
  /** The set manifest of a version, downloaded and verified through TUF. */
  setManifest(targetPath: string): Promise<SetManifest>;
  dispose(): Promise<void>;
}

/**
 * A fresh client trusting the stack's `DATA_DIR/root.json`, able to download the targets
 * of `products` (one signed grant each). Call `refresh()` on its updater before use.
 */
export async function tufClient(stack: Pick<StackRef, 'baseUrl' | 'dataDir'>, products: readonly string[]): Promise<TufClient> {
  const metadataDir = await mkdtemp(join(tmpdir(), 'signet-tuf-meta-'));
  const targetDir = await mkdtemp(join(tmpdir(), 'signet-tuf-targets-'));
  await writeFile(join(metadataDir, 'root.json'), await readFile(rootPath(stack.dataDir)));
  const grants = new Map(await Promise.all(products.map(async (p) => [p, await signTargetsGrant(stack, p)] as const)));
  const targetsBase = `${stack.baseUrl}/targets/`;
  const open = (): TufClient => {
    const fetcher = new SignedTargetsFetcher(targetsBase, grants);
    // No config: tuf-js at its default settings, as a vendor's client would start.
    const updater = new Updater({ metadataDir, metadataBaseUrl: `${stack.baseUrl}/metadata`, targetDir, targetBaseUrl: `${stack.baseUrl}/targets`, fetcher });
    const client: TufClient = {
      updater,
      targetUrls: fetcher.targetUrls,
      metadataDir,
      targetDir,
      reopen: open,
      async download(targetPath) {
        const info: TargetFile | undefined = await updater.getTargetInfo(targetPath);
        if (!info) throw new Error(`${targetPath} is not in the trusted targets metadata`);
        const file = await updater.downloadTarget(info, join(targetDir, encodeURIComponent(targetPath)));
        return readFile(file);
      },
      async setManifest(targetPath) {
        return parseSetManifest(await client.download(targetPath));
      },
      async dispose() {
        await Promise.all([rm(metadataDir, { recursive: true, force: true }), rm(targetDir, { recursive: true, force: true })]);
      },
    };
    return client;
  };
  return open();
}

/** The targets that a client's trusted targets metadata lists (after `refresh()`). */
export async function trustedTargets(client: TufClient): Promise<Record<string, TargetFile>> {
  return parseTargets(await readFile(join(client.metadataDir, 'targets.json'))).signed.targets;
}

/** The service's repository wiring, in-process, against the stack's DynamoDB Local and local S3. */
export async function stackRepositoryDeps(stack: StackRef): Promise<RepositoryDeps & { s3: S3Client; destroy(): void }> {
  const dynamodb = new DynamoDBClient({ endpoint: stack.dynamodbEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const s3 = localS3Client(stack.s3Endpoint);
  return {
    store: new ReleaseStore(DynamoDBDocumentClient.from(dynamodb, { marshallOptions: { removeUndefinedValues: true } }), localTableName(mainTable)),
    objects: s3ObjectStore(s3, stack.bucket),
    signers: { snapshot: await tufSigner(stack.dataDir, 'snapshot'), timestamp: await tufSigner(stack.dataDir, 'timestamp') },
    now: () => new Date(),
    timestampExpiryHours: defaultRuntimeSettings().timestampExpiryHours,
    s3,
    destroy() {
      s3.destroy();
      dynamodb.destroy();
    },
  };
}

/** Raw bucket access for tampering and restoring. */
export async function getObject(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const result = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from((await result.Body?.transformToByteArray()) ?? []);
}

export async function putObject(s3: S3Client, bucket: string, key: string, body: Buffer): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, CacheControl: cacheControlFor(key), ContentType: 'application/octet-stream' }));
}

export interface CliPublish {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The `--json` summary on success. */
  readonly summary?: { product: string; version: string; files: number; uploadedFiles: number; uploadedBytes: number; targetsVersion: number; alreadyPublished: boolean; setManifest: string; patches: number; patchBytes: number; patchesDropped: number };
}

/** Writes `files` into a temporary dir and publishes it with the real `signet publish --json`. */
export async function publishWithCli(stack: Pick<StackRef, 'dataDir'>, product: string, version: string, files: Record<string, string | Buffer>, extraArgs: readonly string[] = []): Promise<CliPublish> {
  const dir = await mkdtemp(join(tmpdir(), 'signet-publish-'));
  try {
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
    const result = await runSignet(['publish', '--product', product, '--version', version, '--dir', dir, '--data-dir', stack.dataDir, '--json', ...extraArgs], process.env, 120_000);
    return { ...result, ...(result.code === 0 && { summary: JSON.parse(result.stdout) as CliPublish['summary'] }) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The set-manifest targets of `product` a client's trusted targets metadata lists, by version. */
export async function setTargetsOf(client: TufClient, product: string): Promise<Array<{ version: string; path: string }>> {
  return Object.values(await trustedTargets(client)).flatMap((t) => {
    const custom = t.custom as { product?: string; kind?: string; version?: string };
    return custom.product === product && custom.kind === 'set' && custom.version ? [{ version: custom.version, path: t.path }] : [];
  });
}
