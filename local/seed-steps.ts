/**
 * What a first start creates, in order. Later features append their steps here; see
 * seed.ts for the rules a step follows (named, recorded when done, idempotent).
 */
import { dynamo } from '#lib/aws/clients.ts';
import { tableConfig } from '#lib/config.ts';
import { createLicense } from '#lib/licensing/admin.ts';
import { LicensingStore } from '#lib/licensing/store.ts';
import { adminCredentialsPath, ensureAdminCredentials } from './admin-credentials.ts';
import { ensureLocalCdnKey } from './cdn-key.ts';
import { demoChannel, demoProduct, readDemoFile, updateDemoFile } from './demo.ts';
import { localAdminArn } from './origin.ts';
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
  async run({ dataDir, baseUrl, log }) {
    if ((await readDemoFile(dataDir))?.licenseKey) return;
    const store = new LicensingStore(dynamo(), tableConfig().mainTable);
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

export const seedSteps: readonly SeedStep[] = [cdnSigningKey, adminCredentials, demoLicense];
