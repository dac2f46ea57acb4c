/**
 * The local stack's TUF keys, one PEM file per role under DATA_DIR/keys/tuf (0600), and
 * the first root metadata signed by the root key. In the cloud, root and targets keys
 * stay with ops and CI (`signet keys`), and snapshot and timestamp live in KMS.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { RoleName } from '#lib/tuf/metadata.ts';
import { newRoot, signMetadata, toBytes } from '#lib/tuf/metadata.ts';
import type { Signer } from '#lib/tuf/signer.ts';
import { pemSigner } from '#lib/tuf/signer.ts';
import { writeFileAtomic } from '#lib/files.ts';

export const tufKeyDir = (dataDir: string) => join(dataDir, 'keys', 'tuf');
export const rootPath = (dataDir: string) => join(dataDir, 'root.json');
const roles: readonly RoleName[] = ['root', 'targets', 'snapshot', 'timestamp'];

export function newP256PrivateKeyPem(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

export async function tufSigner(dataDir: string, role: RoleName): Promise<Signer> {
  return pemSigner(await readFile(join(tufKeyDir(dataDir), `${role}.key.pem`), 'utf8'));
}

/** Creates the four role keys and root v1 (DATA_DIR/root.json) unless they exist. */
export async function ensureTufKeys(dataDir: string, now: Date): Promise<boolean> {
  const dir = tufKeyDir(dataDir);
  if (await stat(rootPath(dataDir)).then(() => true, () => false)) return false;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const role of roles) {
    const path = join(dir, `${role}.key.pem`);
    if (!(await stat(path).then(() => true, () => false))) await writeFileAtomic(path, newP256PrivateKeyPem(), 0o600);
  }
  const signers = Object.fromEntries(await Promise.all(roles.map(async (r) => [r, await tufSigner(dataDir, r)] as const))) as Record<RoleName, Signer>;
  const root = newRoot({ keys: { root: [signers.root.key], targets: [signers.targets.key], snapshot: [signers.snapshot.key], timestamp: [signers.timestamp.key] }, now });
  await signMetadata(root, [signers.root]);
  await writeFileAtomic(rootPath(dataDir), toBytes(root));
  return true;
}
