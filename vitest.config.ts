import { defineConfig } from 'vitest/config';

// Two projects: `unit` needs nothing running (pure code, CDK template assertions);
// `integration` starts one real local stack (DynamoDB Local, s3rver, the origin) for
// the whole run in its global setup and stops it at the end.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/cdk/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // One stack, shared: files run one after another so their data does not interleave.
          fileParallelism: false,
          // The `signet local` stacks tests start promote and ask at once too (global-setup.ts).
          env: { SIGNET_CHANNEL_CACHE_SECONDS: '0' },
        },
      },
    ],
  },
});
