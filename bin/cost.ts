/**
 * `npm run cost -- [--agents N] [--poll-minutes M] [--releases-per-day R] [--release-mb MB]
 * [--patch-share S] [--replica-regions K] [--json]`: the monthly AWS cost model of
 * lib/cost/model.ts (docs/cost.md) for another fleet. Prints Markdown, or the report as JSON.
 */
import { parseArgs } from 'node:util';
import type { FleetInputs } from '#lib/cost/model.ts';
import { costModel, defaultInputs, formatReport } from '#lib/cost/model.ts';

const options = {
  agents: 'agents',
  'poll-minutes': 'pollMinutes',
  'releases-per-day': 'releasesPerDay',
  'release-mb': 'releaseMb',
  'patch-share': 'patchShare',
  'replica-regions': 'replicaRegions',
} as const satisfies Record<string, keyof FleetInputs>;

try {
  const { values } = parseArgs({
    options: { ...Object.fromEntries(Object.keys(options).map((name) => [name, { type: 'string' as const }])), json: { type: 'boolean' }, help: { type: 'boolean' } },
    strict: true,
  });
  if (values.help) {
    console.log(`usage: npm run cost -- ${Object.keys(options).map((name) => `[--${name} N]`).join(' ')} [--json]\ndefaults: ${JSON.stringify(defaultInputs)}`);
    process.exit(0);
  }
  const inputs: Record<string, number> = { ...defaultInputs };
  for (const [flag, key] of Object.entries(options)) {
    const raw: unknown = (values as Record<string, unknown>)[flag];
    if (typeof raw !== 'string') continue;
    const value = Number(raw);
    const whole = key === 'agents' || key === 'replicaRegions';
    if (raw.trim() === '' || !Number.isFinite(value) || value < 0 || (whole && !Number.isInteger(value)) || (key === 'pollMinutes' && value <= 0)) {
      throw new Error(`--${flag} must be a ${whole ? 'whole ' : ''}number${key === 'pollMinutes' ? ' above 0' : ' of 0 or more'}, got "${raw}"`);
    }
    inputs[key] = value;
  }
  const report = costModel(inputs as unknown as FleetInputs);
  console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
} catch (error) {
  console.error(`cost: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
