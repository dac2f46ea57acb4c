/**
 * `npm run bench`: runs every suite and prints its figures as ratios against baselines
 * measured in the same run. `BENCH_SECONDS` sets each load's duration (default 5).
 * Later features add their suites to the list below.
 */
import { printFigures } from './harness.ts';
import type { Suite } from './harness.ts';
import { agentSuite } from './suites/agent.ts';
import { deliverySuite } from './suites/delivery.ts';
import { licensingSuite } from './suites/licensing.ts';
import { localOriginSuite } from './suites/local-origin.ts';
import { publishSuite } from './suites/publish.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const suites: Suite[] = [localOriginSuite, licensingSuite, deliverySuite, publishSuite, agentSuite];
const only = process.argv[2];

console.log(`# signet bench — ${new Date().toISOString()}, node ${process.version}, ${(await import('node:os')).cpus().length} cores`);
for (const suite of suites) {
  if (only && !suite.name.includes(only)) continue;
  printFigures(suite.name, await suite.run());
}
