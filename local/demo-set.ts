/**
 * The demo signature set the first start publishes (product `demo-av`, channel
 * `stable`): a few small files whose content is fixed, so every new data dir publishes
 * the same version 1.0.0 through the same code CI uses.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promote } from '#lib/releases/channels.ts';
import type { PublishDeps, PublishSummary } from '#lib/releases/publish.ts';
import { publish } from '#lib/releases/publish.ts';
import type { RepositoryDeps } from '#lib/releases/repository.ts';
import { commitRelease } from '#lib/releases/repository.ts';
import type { Signer } from '#lib/tuf/signer.ts';

export const demoSetFiles: Record<string, string> = {
  'main.sig': 'SIGNET DEMO SIGNATURES v1\nEICAR-Test-File 44d88612fea8a8f36de82e1278abb02f\n',
  'daily.sig': 'SIGNET DEMO DAILY v1\n',
  'engine.cfg': 'heuristics=on\nmax-scan-size=100M\n',
};

/** The service's repository, and how files reach its bucket. */
export type InProcessRepository = RepositoryDeps & Pick<PublishDeps, 'upload'>;

/** Publishes `files` as `product` `version` in-process (the same library `signet publish` uses). */
export async function publishInProcess(
  deps: InProcessRepository,
  targetsSigner: Signer,
  request: { product: string; version: string; files: Record<string, string | Buffer> },
  actor: string,
): Promise<PublishSummary> {
  const dir = await mkdtemp(join(tmpdir(), 'signet-set-'));
  try {
    for (const [name, content] of Object.entries(request.files)) await writeFile(join(dir, name), content);
    return await publish(
      {
        objects: deps.objects,
        upload: deps.upload,
        repository: {
          targetsVersion: async () => (await deps.store.repositoryState())?.targetsVersion ?? 0,
          commit: (body) => commitRelease(deps, body, actor),
        },
        targetsSigner,
        now: deps.now,
      },
      { product: request.product, version: request.version, dir },
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function publishDemoSet(deps: InProcessRepository, targetsSigner: Signer, actor: string, product: string, channel: string): Promise<PublishSummary> {
  const summary = await publishInProcess(deps, targetsSigner, { product, version: '1.0.0', files: demoSetFiles }, actor);
  await promote(deps.store, { product, channel, version: '1.0.0', percent: 100 }, actor, deps.now());
  return summary;
}
