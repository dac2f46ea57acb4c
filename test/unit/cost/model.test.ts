/**
 * The cost model (lib/cost/model.ts): its formulas on hand-checked figures, the tiers, the
 * default case equal to what docs/cost.md shows, and `npm run cost` for another fleet.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MONTHLY_BUDGET_USD } from '../../../cdk/config.ts';
import type { CostReport } from '#lib/cost/model.ts';
import { measuredUnits } from '#lib/cost/measured.ts';
import { costModel, defaultInputs, formatPrices, formatReport, prices, tiered, usd } from '#lib/cost/model.ts';

const line = (report: CostReport, item: string) => {
  const found = report.lines.find((l) => l.item === item);
  if (!found) throw new Error(`no line ${item}`);
  return found.usd;
};

describe('costModel, the default fleet', () => {
  const report = costModel(defaultInputs);

  it('counts the month as docs/delivery.md does: 2.88 B polls, 120 M manifests and 120 M reports', () => {
    expect(report.volumes.polls).toBe(2.88e9);
    expect(report.volumes.manifests).toBe(120e6);
    expect(report.volumes.reports).toBe(120e6);
    // Polls, API calls, and 4 fetches per agent and release.
    expect(report.volumes.cdnRequests).toBe(2.88e9 + 240e6 + 480e6);
  });

  it('prices requests per request: CloudFront $3,600, WAF $2,160, HTTP API $240', () => {
    expect(line(report, 'CloudFront requests')).toBeCloseTo(3_600, 6);
    expect(line(report, 'WAF requests')).toBeCloseTo(2_160, 6);
    expect(line(report, 'HTTP API requests')).toBeCloseTo(240, 6);
    expect(line(report, 'CloudFront Functions (path guard)')).toBeCloseTo(336, 6);
  });

  it('prices DynamoDB by the units the meter measured (lib/cost/measured.ts): 120 M manifests and 120 M reports, reads at $0.125 and writes at $0.625 per million', () => {
    const { manifest, report: reported } = measuredUnits.perRequest;
    const usd = 120 * (manifest.readUnits + reported.readUnits) * 0.125 + 120 * (manifest.writeUnits + reported.writeUnits) * 0.625;
    expect(line(report, 'DynamoDB on-demand requests')).toBeCloseTo(usd, 6);
    // As measured on 2026-12-08: a manifest 3 read and 3 write units, a report 4.01 and 6.
    expect(usd).toBeCloseTo(120 * 7.01 * 0.125 + 120 * 9 * 0.625, 6);
  });

  it('sums its lines into the total before downloads', () => {
    expect(report.beforeDownloads).toBeCloseTo(report.lines.reduce((sum, l) => sum + l.usd, 0), 9);
    expect(report.beforeDownloads).toBeGreaterThan(7_000);
    expect(report.beforeDownloads).toBeLessThan(10_000);
  });

  it('sets the default budget at about 1.5x the default fleet with patches: a normal month does not alarm, whole-file downloads do', () => {
    const withPatches = report.beforeDownloads + report.downloads.monthUsdPatched;
    expect(DEFAULT_MONTHLY_BUDGET_USD * 0.8).toBeGreaterThan(withPatches);
    expect(DEFAULT_MONTHLY_BUDGET_USD).toBeLessThan(2 * withPatches);
    expect(report.beforeDownloads + report.downloads.monthUsdWhole).toBeGreaterThan(DEFAULT_MONTHLY_BUDGET_USD);
  });

  it('makes patched downloads the patch share of whole ones, per release', () => {
    expect(report.downloads.perReleaseGbPatched).toBeCloseTo(report.downloads.perReleaseGbWhole * 0.01, 9);
    expect(report.downloads.perReleaseGbWhole).toBeCloseTo((1e6 * 60) / 1024, 6);
    expect(report.downloads.monthUsdWhole).toBeGreaterThan(20 * report.downloads.monthUsdPatched);
  });

  it('finds a poll answered by Lambda dearer than one answered by the CDN', () => {
    expect(report.polls.cdnPerMillion).toBeCloseTo(1 + 0.1 + 0.6 + (1_000 / 1024 ** 3) * 0.085 * 1e6, 6);
    expect(report.polls.lambdaPerMillion).toBeGreaterThan(2 * report.polls.cdnPerMillion);
    expect(report.polls.lambdaMonth).toBeGreaterThan(report.polls.cdnMonth);
  });
});

describe('costModel, other fleets', () => {
  it('scales the per-request lines with the fleet', () => {
    const quarter = costModel({ ...defaultInputs, agents: 250_000 });
    expect(line(quarter, 'WAF requests')).toBeCloseTo(line(costModel(defaultInputs), 'WAF requests') / 4, 6);
  });

  it('counts at most one manifest per poll when releases come faster than polls', () => {
    const daily = costModel({ ...defaultInputs, pollMinutes: 24 * 60, releasesPerDay: 4 });
    expect(daily.volumes.manifests).toBe(1e6 * 30);
  });

  it('adds health checks and replication only with replica regions, and pays each write in every region', () => {
    const one = costModel(defaultInputs);
    const three = costModel({ ...defaultInputs, replicaRegions: 2 });
    expect(one.lines.some((l) => l.group === 'Regions')).toBe(false);
    expect(line(three, 'Route 53 health checks (HTTPS)')).toBeCloseTo(3 * 1.5, 9);
    expect(line(three, 'S3 replication with RTC')).toBeGreaterThan(0);
    const writes = 1_080e6 * prices.dynamoWriteUnit;
    expect(line(three, 'DynamoDB on-demand requests') - line(one, 'DynamoDB on-demand requests')).toBeCloseTo(2 * writes, 6);
  });
});

describe('tiered', () => {
  const tiers = [
    { upTo: 10, usd: 2 },
    { upTo: 30, usd: 1 },
    { upTo: Infinity, usd: 0.5 },
  ];

  it('prices each unit at its tier', () => {
    expect(tiered(0, tiers)).toBe(0);
    expect(tiered(5, tiers)).toBe(10);
    expect(tiered(10, tiers)).toBe(20);
    expect(tiered(25, tiers)).toBe(35);
    expect(tiered(50, tiers)).toBe(20 + 20 + 10);
  });

  it('prices HTTP API requests past 300 million at $0.90', () => {
    expect(tiered(400e6, prices.httpApiRequest)).toBeCloseTo(300 + 90, 6);
  });
});

describe('usd', () => {
  it('prints whole dollars, and cents under $10', () => {
    expect(usd(7735.4)).toBe('$7,735');
    expect(usd(0.24)).toBe('$0.24');
  });
});

describe('docs/cost.md', () => {
  const doc = readFileSync(new URL('../../../docs/cost.md', import.meta.url), 'utf8');
  const generated = (name: string) => {
    const match = new RegExp(`<!-- generated: ${name} -->\\n([\\s\\S]*?)\\n<!-- end generated -->`).exec(doc);
    if (!match?.[1]) throw new Error(`docs/cost.md has no generated block "${name}"`);
    return match[1];
  };

  it('shows the default case exactly as the model computes it (regenerate with npm run cost)', () => {
    expect(generated('npm run cost')).toBe(formatReport(costModel(defaultInputs)));
  });

  it('lists the prices the model uses, each with its source and date', () => {
    expect(generated('prices')).toBe(formatPrices());
    expect(formatPrices()).toMatch(/read 2026-12-01/);
  });
});

describe('npm run cost', () => {
  const run = (...args: string[]) => promisify(execFile)(process.execPath, ['--import', 'tsx', 'bin/cost.ts', ...args], { cwd: new URL('../../../', import.meta.url) });

  it('prints the model for another fleet', async () => {
    const { stdout } = await run('--agents', '250000', '--poll-minutes', '30', '--releases-per-day', '4');
    expect(stdout).toBe(`${formatReport(costModel({ ...defaultInputs, agents: 250_000, pollMinutes: 30 }))}\n`);
  });

  it('refuses a bad value in one line that names the flag', async () => {
    await expect(run('--poll-minutes', '0')).rejects.toMatchObject({ code: 1, stderr: 'cost: --poll-minutes must be a number above 0, got "0"\n' });
  });
});
