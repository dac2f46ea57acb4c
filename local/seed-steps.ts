/**
 * What a first start creates, in order. Later features append their steps here; see
 * seed.ts for the rules a step follows (named, recorded when done, idempotent).
 */
import { readFile } from 'node:fs/promises';
import { adminDependencies } from '#functions/admin/handler.ts';
import { releasesDependencies } from '#functions/releases/handler.ts';
import { s3Uploader } from '#lib/aws/upload.ts';
import { createLicense } from '#lib/licensing/admin.ts';
import { putRoot } from '#lib/releases/repository.ts';
import { publishDemoSet } from './demo-set.ts';
import { ensureTufKeys, rootPath, tufSigner } from './tuf-keys.ts';
import { adminCredentialsPath, ensureAdminCredentials } from './admin-credentials.ts';
import { ensureLocalCdnKey } from '#lib/cdn/key-files.ts';
import { demoChannel, demoProduct, readDemoFile, updateDemoFile } from './demo.ts';
import { localAdminArn } from './region.ts';
import type { SeedStep } from './seed.ts';

const cdnSigningKey: SeedStep = {
  name: 'cdn-signing-key',
  async run({ dataDir, log }) {
    const keyPairId = await ensureLocalCdnKey(dataDir);
    if (keyPairId) log(`created the local CDN key pair ${keyPairId}`);
  },
};

const adminCredentials: SeedStep = {
  name: 'admin-credentials',
  async run({ dataDir, log }) {
    if (await ensureAdminCredentials(dataDir)) log(`wrote the local admin credentials to ${adminCredentialsPath(dataDir)}`);
  },
};

const demoLicense: SeedStep = {
  name: 'demo-license',
  async run({ dataDir, baseUrl, log, services }) {
    if ((await readDemoFile(dataDir))?.licenseKey) return;
    const { store } = adminDependencies(services('admin'));
    const now = new Date();
    const { licenseKey, license } = await createLicense(
      store,
      { customer: 'Demo Customer', products: [demoProduct], seats: 100, expires: new Date(now.getTime() + 365 * 86_400_000).toISOString() },
      localAdminArn,
      now,
    );
    await updateDemoFile(dataDir, {
      baseUrl,
      licenseKey,
      product: demoProduct,
      channel: demoChannel,
      adminCredentialsPath: adminCredentialsPath(dataDir),
    });
    log(`created the demo license ${license.licenseId} (${license.seats} seats of ${demoProduct})`);
  },
};

const tufKeys: SeedStep = {
  name: 'tuf-keys',
  async run({ dataDir, log }) {
    if (await ensureTufKeys(dataDir, new Date())) log(`created the TUF role keys and root v1 (${rootPath(dataDir)})`);
  },
};

const repositoryRoot: SeedStep = {
  name: 'repository-root',
  async run({ dataDir, services }) {
    const root = JSON.parse(await readFile(rootPath(dataDir), 'utf8')) as unknown;
    await putRoot(await releasesDependencies(services('releases')), root, localAdminArn);
    await updateDemoFile(dataDir, { rootPath: rootPath(dataDir) });
  },
};

const demoSet: SeedStep = {
  name: 'demo-set',
  async run({ dataDir, log, services }) {
    const releases = services('releases');
    const deps = await releasesDependencies(releases);
    if (await deps.store.release(demoProduct, '1.0.0')) return;
    const upload = s3Uploader(releases.s3(), deps.bucket);
    const summary = await publishDemoSet({ ...deps, upload }, await tufSigner(dataDir, 'targets'), localAdminArn, demoProduct, demoChannel);
    log(`published ${demoProduct} ${summary.version} (${summary.files} files) and promoted it to ${demoChannel}`);
  },
};

export const seedSteps: readonly SeedStep[] = [cdnSigningKey, adminCredentials, demoLicense, tufKeys, repositoryRoot, demoSet];
