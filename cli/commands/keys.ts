/**
 * `signet keys`: the TUF role keys and the CDN signing keys of a deployment.
 *
 *   init         new root, targets (and, without KMS, snapshot/timestamp) keys and root v1
 *   upload-root  give the service a root (v1, or a rotation)
 *   rotate-root  a new root key (and optionally a new targets key): root N+1 signed by old and new
 *   rotate-cdn / retire-cdn   the local key group: add a second CDN key, later drop the old one
 *
 * Private keys are written as 0600 PEM files in the directory you name (or the local
 * stack's data dir) and are never printed. In the cloud, snapshot and timestamp keys
 * live in KMS: pass their key ids to `init` and only their public halves enter root.
 */
import { chmod, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ensureLocalCdnKey, cdnKeyDir, newKeyPairId } from '#lib/cdn/key-files.ts';
import { generateCdnKeyPair } from '#lib/cdn/key-group.ts';
import type { RoleName } from '#lib/tuf/metadata.ts';
import { newRoot, parseRoot, signMetadata, toBytes } from '#lib/tuf/metadata.ts';
import { kmsSigner } from '#lib/tuf/online-signers.ts';
import { nextRoot, signRotatedRoot } from '#lib/tuf/rotation.ts';
import type { Signer } from '#lib/tuf/signer.ts';
import { pemSigner } from '#lib/tuf/signer.ts';
import { newP256PrivateKeyPem, tufKeyDir } from '#local/tuf-keys.ts';
import type { ServerFlags } from '../admin-client.ts';
import { adminClient, withServerOptions } from '../admin-client.ts';
import { CliError } from '../errors.ts';
import { printRecord } from '../output.ts';
import { s3For } from '../services.ts';
import { s3ObjectStore } from '#lib/aws/objects.ts';

const exists = (path: string) => stat(path).then(() => true, () => false);

async function writePrivateKey(path: string, pem: string): Promise<void> {
  if (await exists(path)) throw new CliError(`${path} exists already: refusing to overwrite a key`);
  await writeFile(path, pem, { mode: 0o600 });
  await chmod(path, 0o600);
}

async function fileSigner(path: string): Promise<Signer> {
  return pemSigner(await readFile(path, 'utf8').catch(() => { throw new CliError(`cannot read the key ${path}`); }));
}

function keysDirOf(flags: { keys?: string; dataDir?: string }): string {
  const dir = flags.keys ?? (flags.dataDir ?? process.env.SIGNET_DATA_DIR ? tufKeyDir(flags.dataDir ?? process.env.SIGNET_DATA_DIR ?? '') : undefined);
  if (!dir) throw new CliError('name the keys directory with --keys DIR (or --data-dir of a local stack)');
  return dir;
}


export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('create and rotate the TUF role keys and the CDN signing keys');

  keys
    .command('init')
    .description('create root and targets keys (and snapshot/timestamp keys unless in KMS) and a self-signed root v1')
    .requiredOption('--out <dir>', 'directory for the private keys (0600) and 1.root.json')
    .option('--snapshot-kms-key <id>', 'KMS key (ECC_NIST_P256) of the snapshot role')
    .option('--timestamp-kms-key <id>', 'KMS key (ECC_NIST_P256) of the timestamp role')
    .action(async (flags: { out: string; snapshotKmsKey?: string; timestampKmsKey?: string }) => {
      await mkdir(flags.out, { recursive: true, mode: 0o700 });
      const signers: Partial<Record<RoleName, Signer>> = {};
      for (const role of ['root', 'targets', 'snapshot', 'timestamp'] as const) {
        const kmsKey = role === 'snapshot' ? flags.snapshotKmsKey : role === 'timestamp' ? flags.timestampKmsKey : undefined;
        if (kmsKey) {
          signers[role] = await kmsSigner(kmsKey);
          continue;
        }
        const path = join(flags.out, `${role}.key.pem`);
        await writePrivateKey(path, newP256PrivateKeyPem());
        signers[role] = await fileSigner(path);
      }
      const all = signers as Record<RoleName, Signer>;
      const root = newRoot({ keys: { root: [all.root.key], targets: [all.targets.key], snapshot: [all.snapshot.key], timestamp: [all.timestamp.key] }, now: new Date() });
      await signMetadata(root, [all.root]);
      await writeFile(join(flags.out, '1.root.json'), toBytes(root));
      console.log(`wrote ${join(flags.out, '1.root.json')} and the private keys in ${flags.out}; keep root.key.pem offline, give targets.key.pem to CI, then: signet keys upload-root ${join(flags.out, '1.root.json')}`);
    });

  withServerOptions(keys.command('upload-root').description('give the service a root: v1, or the next version of a rotation').argument('<file>')).action(
    async (file: string, flags: ServerFlags & { json?: boolean }) => {
      const root = JSON.parse(await readFile(file, 'utf8')) as unknown;
      const result = await (await adminClient(flags)).call<{ rootVersion: number }>('PUT', '/v1/admin/repository/root', { root });
      printRecord(`The repository now trusts root v${result.rootVersion}.`, {}, flags.json === true, result);
    },
  );

  withServerOptions(
    keys
      .command('rotate-root')
      .description('replace the root key (and with --targets the targets key): root N+1 signed by the old and the new root key, uploaded')
      .option('--keys <dir>', 'the keys directory (default: the local stack\'s)')
      .option('--targets', 'also replace the targets key'),
  ).action(async (flags: ServerFlags & { keys?: string; targets?: boolean; json?: boolean }) => {
    const dir = keysDirOf(flags);
    const client = await adminClient(flags);
    const { state, bucket } = await client.call<{ state: { rootVersion: number } | null; bucket: string }>('GET', '/v1/admin/repository');
    if (!state) throw new CliError('the repository has no root yet: use keys init and upload-root');
    const { s3, bucket: resolvedBucket } = await s3For(client.dataDir, bucket);
    const currentBytes = await s3ObjectStore(s3, resolvedBucket).get(`metadata/${state.rootVersion}.root.json`);
    s3.destroy();
    if (!currentBytes) throw new CliError(`metadata/${state.rootVersion}.root.json is missing from the bucket`);
    const current = parseRoot(currentBytes).signed;

    const oldRoot = await fileSigner(join(dir, 'root.key.pem'));
    if (!current.roles.root?.keyIDs.includes(oldRoot.key.keyID)) throw new CliError(`${join(dir, 'root.key.pem')} is not a root key of root v${current.version}`);
    const staged: Array<{ role: 'root' | 'targets'; pem: string; signer: Signer }> = [];
    for (const role of flags.targets ? (['root', 'targets'] as const) : (['root'] as const)) {
      const pem = newP256PrivateKeyPem();
      staged.push({ role, pem, signer: pemSigner(pem) });
    }
    const replacements = Object.fromEntries(staged.map((s) => [s.role, [s.signer.key]]));
    const newRootSigner = staged.find((s) => s.role === 'root')?.signer as Signer;
    const root = await signRotatedRoot(nextRoot(current, replacements, new Date()), [oldRoot], [newRootSigner]);
    const version = root.signed.version;
    const file = join(dir, `${version}.root.json`);
    await writeFile(file, toBytes(root));
    await client.call('PUT', '/v1/admin/repository/root', { root: root.toJSON() });
    // Only once the service took the new root do the new keys replace the old (kept as <role>.v<N>.key.pem).
    for (const s of staged) {
      await rename(join(dir, `${s.role}.key.pem`), join(dir, `${s.role}.v${current.version}.key.pem`)).catch(() => undefined);
      await writePrivateKey(join(dir, `${s.role}.key.pem`), s.pem);
    }
    printRecord(`Root rotated to v${version}.`, { file, replaced: staged.map((s) => s.role) }, flags.json === true, { rootVersion: version, replaced: staged.map((s) => s.role) });
  });

  keys
    .command('rotate-cdn')
    .description("add a new CDN key pair to the local stack's key group (signing moves to it; the old key keeps verifying until retired)")
    .option('--data-dir <dir>', "the local stack's data dir (env SIGNET_DATA_DIR)")
    .action(async (flags: { dataDir?: string }) => {
      const dataDir = flags.dataDir ?? process.env.SIGNET_DATA_DIR ?? '.signet';
      await ensureLocalCdnKey(dataDir);
      const keyPairId = newKeyPairId();
      const { publicKeyPem, privateKeyPem } = generateCdnKeyPair('ecdsa-p256');
      const dir = cdnKeyDir(dataDir);
      await writePrivateKey(join(dir, `${keyPairId}.key.pem`), privateKeyPem);
      await writeFile(join(dir, `${keyPairId}.pub.pem`), publicKeyPem);
      console.log(`added CDN key ${keyPairId}; URLs signed with the old key stay valid until: signet keys retire-cdn <old id>`);
    });

  keys
    .command('retire-cdn')
    .description("remove a CDN key from the local stack's key group")
    .argument('<key-pair-id>')
    .option('--data-dir <dir>', "the local stack's data dir (env SIGNET_DATA_DIR)")
    .action(async (keyPairId: string, flags: { dataDir?: string }) => {
      const dir = cdnKeyDir(flags.dataDir ?? process.env.SIGNET_DATA_DIR ?? '.signet');
      const publicKeys = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.pub.pem'));
      if (!publicKeys.includes(`${keyPairId}.pub.pem`)) throw new CliError(`no CDN key ${keyPairId} in ${dir}`);
      if (publicKeys.length === 1) throw new CliError(`${keyPairId} is the only CDN key: rotate-cdn first`);
      await rm(join(dir, `${keyPairId}.pub.pem`));
      await rm(join(dir, `${keyPairId}.key.pem`), { force: true });
      console.log(`retired CDN key ${keyPairId}`);
    });
}
