/**
 * `npm run bench`: runs every suite and prints its figures as ratios against baselines
 * measured in the same run. `BENCH_SECONDS` sets each load's duration (default 5).
 * `npm run bench -- <id>` runs one suite (ids below; a part of a suite's name works too).
 *
 * Each suite runs in its own process, so one suite's stack, timers and memory do not
 * linger into the next one's figures.
 */
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { printFigures, timedCommand } from './harness.ts';
import type { Suite } from './harness.ts';
import { agentSuite } from './suites/agent.ts';
import { deltaFormatSuite } from './suites/delta-format.ts';
import { deltaSuite } from './suites/delta.ts';
import { deliverySuite } from './suites/delivery.ts';
import { licensingSuite } from './suites/licensing.ts';
import { localOriginSuite } from './suites/local-origin.ts';
import { mirrorSuite } from './suites/mirror.ts';
import { pollsSuite } from './suites/polls.ts';
import { publishSuite } from './suites/publish.ts';
import { scaleSuite } from './suites/scale.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const suites: Record<string, Suite> = {
  'local-origin': localOriginSuite,
  licensing: licensingSuite,
  delivery: deliverySuite,
  publish: publishSuite,
  agent: agentSuite,
  polls: pollsSuite,
  mirror: mirrorSuite,
  'delta-format': deltaFormatSuite,
  delta: deltaSuite,
  scale: scaleSuite,
};
const only = process.argv[2];

function runInChild(id: string): Promise<number> {
  return timedCommand(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), id], { inherit: true, env: { ...process.env, SIGNET_BENCH_CHILD: '1' } });
}

if (!process.env.SIGNET_BENCH_CHILD) console.log(`# signet bench — ${new Date().toISOString()}, node ${process.version}, ${cpus().length} cores`);
if (only) {
  const suite = suites[only] ?? Object.values(suites).find((s) => s.name.includes(only));
  if (!suite) throw new Error(`no bench suite ${only}: one of ${Object.keys(suites).join(', ')}`);
  printFigures(suite.name, await suite.run());
} else {
  for (const id of Object.keys(suites)) await runInChild(id);
}
