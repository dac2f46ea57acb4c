/**
 * Data dirs written before the consistent-snapshot target layout: their targets metadata
 * names files `<product>/<sha256>.<name>`, which TUF clients at their default settings ask
 * for as `<product>/<sha256>.<sha256>.<name>` and never find. They are refused at start
 * with a message that says what to do, rather than served half-broken.
 */
import type { ObjectStore } from '#lib/aws/objects.ts';
import { metadataSpace } from '#lib/definitions/bucket.ts';
import type { ReleaseStore } from '#lib/releases/store.ts';
import { parseTargets } from '#lib/tuf/metadata.ts';
import { LocalStackError } from './errors.ts';

/** A target path of the earlier layout: the hash is the start of the basename. */
export function isEarlierLayoutPath(path: string): boolean {
  return /^[0-9a-f]{64}\./.test(path.split('/').pop() ?? '');
}

export async function refuseEarlierLayout(store: ReleaseStore, objects: ObjectStore, dataDir: string): Promise<void> {
  const state = await store.repositoryState();
  if (!state || state.targetsVersion === 0) return;
  const bytes = await objects.get(`${metadataSpace.prefix}${state.targetsVersion}.targets.json`);
  if (!bytes) return; // still staged: the commit that wrote it is of this layout
  const old = Object.keys(parseTargets(bytes).signed.targets).find(isEarlierLayoutPath);
  if (old) {
    throw new LocalStackError(
      `${dataDir} holds releases in the earlier target layout (${old}), which TUF clients at their default settings cannot fetch: start with --fresh (or another --data-dir) and publish again`,
    );
  }
}
