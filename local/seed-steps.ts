/**
 * What a first start creates, in order. Later features append their steps here (demo
 * license, demo signature set, demo.json); see seed.ts for the rules a step follows.
 */
import { ensureLocalCdnKey } from './cdn-key.ts';
import type { SeedStep } from './seed.ts';

const cdnSigningKey: SeedStep = {
  name: 'cdn-signing-key',
  async run({ dataDir, log }) {
    const keyPairId = await ensureLocalCdnKey(dataDir);
    if (keyPairId) log(`created the local CDN key pair ${keyPairId}`);
  },
};

export const seedSteps: readonly SeedStep[] = [cdnSigningKey];
