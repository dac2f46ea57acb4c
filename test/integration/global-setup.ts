/**
 * One real local stack (DynamoDB Local, s3rver, the origin) for the integration project,
 * on a free port and a fresh temporary data dir; stopped after the last file.
 */
import { appendFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startLocalStack } from '#local/stack.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: { baseUrl: string; dataDir: string; s3Endpoint: string; dynamodbEndpoint: string; bucket: string; logPath: string };
  }
}

export const GRANT_LIFETIME_SECONDS = 8;

/** Short, so a test can watch a stalled download being cut (the default is 30 s). */
export const OBJECT_IDLE_TIMEOUT_MS = 10_000;

export default async function setup(project: TestProject) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const dataDir = await mkdtemp(join(tmpdir(), 'signet-it-'));
  // The origin's log, for tests of what it says (and does not say) about a request.
  const logPath = join(dataDir, 'origin.log');
  const stack = await startLocalStack({
    port: 0,
    host: '127.0.0.1',
    dataDir,
    fresh: false,
    objectIdleTimeoutMs: OBJECT_IDLE_TIMEOUT_MS,
    runtime: {
      // Short download grants, so a test can watch one expire (the default is an hour).
      grantLifetimeSeconds: GRANT_LIFETIME_SECONDS,
      // The tests register thousands of agents from one address; the per-address limit is tested on its own.
      registrationPerMinute: 1_000_000,
      registrationBurst: 1_000_000,
      // The same for site mirrors (the mirrors test sends many leases at once); the limit has a unit test.
      mirrorPerMinute: 1_000_000,
      mirrorBurst: 1_000_000,
      // Tests promote and halt, then ask at once: no channel kept. The bound has its own test
      // (test/unit/licensing/cached-extras.test.ts).
      channelCacheSeconds: 0,
    },
    log: (line) => appendFileSync(logPath, `${new Date().toISOString()} ${line}\n`),
  });
  project.provide('stack', {
    baseUrl: stack.baseUrl,
    dataDir: stack.dataDir,
    s3Endpoint: stack.s3Endpoint,
    dynamodbEndpoint: stack.dynamodbEndpoint,
    bucket: stack.bucket,
    logPath,
  });
  return async () => {
    await stack.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
}
