/**
 * The local stack's CDN key group: key pairs under DATA_DIR/keys/cdn. `<id>.pub.pem`
 * is what the origin trusts (its key group); `<id>.key.pem` (mode 0600) is the signer's
 * private key and never leaves the data dir. In the cloud the same role is played by a
 * KMS key whose public half is published to CloudFront.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { generateCdnKeyPair, loadKeyGroup } from '#lib/cdn/key-group.ts';


export function cdnKeyDir(dataDir: string): string {
  return join(dataDir, 'keys', 'cdn');
}

/** A CloudFront-style public key id: `K` and 13 upper-case base32 characters. */
export function newKeyPairId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  return `K${[...randomBytes(13)].map((b) => alphabet[b % 32]).join('')}`;
}

/** Creates an ECDSA P-256 key pair (the faster of CloudFront's two key types) unless one exists. */
export async function ensureLocalCdnKey(dataDir: string): Promise<string | undefined> {
  const dir = cdnKeyDir(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if ((await readdir(dir)).some((f) => f.endsWith('.pub.pem'))) return undefined;
  const keyPairId = newKeyPairId();
  const { publicKeyPem, privateKeyPem } = generateCdnKeyPair('ecdsa-p256');
  const privatePath = join(dir, `${keyPairId}.key.pem`);
  await writeFile(privatePath, privateKeyPem, { mode: 0o600 });
  await chmod(privatePath, 0o600);
  // The public key last: its presence is what marks the key pair complete.
  await writeFile(join(dir, `${keyPairId}.pub.pem`), publicKeyPem);
  return keyPairId;
}

/** The newest local key pair that has both halves: what a local signer signs with. */
export async function readLocalCdnKey(dataDir: string): Promise<{ keyPairId: string; privateKeyPem: string }> {
  const dir = cdnKeyDir(dataDir);
  const files = await readdir(dir).catch(() => [] as string[]);
  const candidates: Array<{ keyPairId: string; mtime: number }> = [];
  for (const file of files) {
    if (!file.endsWith('.key.pem')) continue;
    const keyPairId = file.slice(0, -'.key.pem'.length);
    if (!files.includes(`${keyPairId}.pub.pem`)) continue;
    candidates.push({ keyPairId, mtime: (await stat(join(dir, file))).mtimeMs });
  }
  const newest = candidates.sort((a, b) => b.mtime - a.mtime)[0];
  if (!newest) throw new MissingKeyError(`no CDN key pair in ${dir}: start the local stack (npm start) or the mirror once to create it`);
  return { keyPairId: newest.keyPairId, privateKeyPem: await readFile(join(dir, `${newest.keyPairId}.key.pem`), 'utf8') };
}

/**
 * The key group as the origin sees it: re-read when the directory changes (a key added
 * by `signet keys rotate-cdn`, one removed by `retire-cdn`), checked at most twice a second.
 */
export function watchedKeyGroup(dir: string): () => Promise<ReadonlyMap<string, KeyObject>> {
  let cached: Map<string, KeyObject> | undefined;
  let seenMtime = -1;
  let checkedAt = 0;
  return async () => {
    if (cached && Date.now() - checkedAt < 500) return cached;
    checkedAt = Date.now();
    const mtime = (await stat(dir)).mtimeMs;
    if (!cached || mtime !== seenMtime) {
      cached = await loadKeyGroup(dir);
      seenMtime = mtime;
    }
    return cached;
  };
}

/** No key pair where one was expected: a one-line, actionable failure for the CLI. */
export class MissingKeyError extends Error {
  override readonly name = 'MissingKeyError';
}
