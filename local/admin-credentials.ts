/**
 * The local stack's admin credentials: the stand-in for an IAM user. The origin accepts
 * SigV4 signatures made with them on the admin routes; the CLI finds them through the
 * data dir. Written once, mode 0600, never printed.
 */
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Credentials } from '#lib/aws/sigv4.ts';
import { writeFileAtomic } from '#lib/files.ts';

export const adminCredentialsPath = (dataDir: string) => join(dataDir, 'admin-credentials.json');

export async function ensureAdminCredentials(dataDir: string): Promise<boolean> {
  const path = adminCredentialsPath(dataDir);
  if (await stat(path).then(() => true, () => false)) return false;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const credentials: Credentials = {
    accessKeyId: `AKIA${[...randomBytes(16)].map((b) => alphabet[b % 32]).join('')}`,
    secretAccessKey: randomBytes(30).toString('base64'),
  };
  await writeFileAtomic(path, `${JSON.stringify(credentials, null, 2)}\n`, 0o600);
  return true;
}

export async function readAdminCredentials(dataDir: string): Promise<Credentials> {
  const parsed = JSON.parse(await readFile(adminCredentialsPath(dataDir), 'utf8')) as Partial<Credentials>;
  if (typeof parsed.accessKeyId !== 'string' || typeof parsed.secretAccessKey !== 'string') {
    throw new Error(`${adminCredentialsPath(dataDir)} is not { accessKeyId, secretAccessKey }`);
  }
  return { accessKeyId: parsed.accessKeyId, secretAccessKey: parsed.secretAccessKey };
}
