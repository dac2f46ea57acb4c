/**
 * DATA_DIR/demo.json: what a newcomer needs to try the local stack (its fields are a promise to users: README). The
 * license key is known only when the demo license is created, so it is recorded then;
 * the base URL is refreshed on every start, since the port may change.
 */
import { DEFAULT_CHANNEL } from '#lib/delivery/manifest.ts';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '#lib/files.ts';

export interface DemoFile {
  baseUrl: string;
  licenseKey: string;
  product: string;
  channel: string;
  rootPath?: string;
  adminCredentialsPath: string;
}

export const demoProduct = 'demo-av';
export const demoChannel = DEFAULT_CHANNEL;
export const demoFilePath = (dataDir: string) => join(dataDir, 'demo.json');

export async function readDemoFile(dataDir: string): Promise<DemoFile | undefined> {
  try {
    return JSON.parse(await readFile(demoFilePath(dataDir), 'utf8')) as DemoFile;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export async function updateDemoFile(dataDir: string, change: Partial<DemoFile>): Promise<void> {
  const current = (await readDemoFile(dataDir)) ?? {};
  await writeFileAtomic(demoFilePath(dataDir), `${JSON.stringify({ ...current, ...change }, null, 2)}\n`, 0o600);
}
