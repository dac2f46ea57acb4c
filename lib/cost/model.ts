/**
 * The monthly AWS cost of a Signet deployment, as formulas over the fleet: how many
 * agents, how often they poll, how many releases a day, how large a release is. Pure:
 * docs/cost.md prints its default case, `npm run cost` (bin/cost.ts) any other, and a
 * test keeps the two equal.
 *
 * Prices are public list prices in USD (us-east-1, CloudFront's US/Europe tier), each with
 * where and when it was read; they change, so verify them before budgeting (docs/cost.md).
 */
import { measuredUnits } from './measured.ts';

/** When the prices below were read, and what each source means (formatPrices names one per price). */
export const PRICES_READ = {
  on: '2026-12-01',
  note:
    "\"stored page\": a copy of AWS's pricing page, or a third-party summary of it, in the project's search corpus, read on that date; the page's own date is not shown there, " +
    "and its figures match AWS's 2025 list prices (DynamoDB on demand after the November 2024 cut). \"known\": the 2025 list price as the author knows it. " +
    'No live AWS price list was read (no internet access beyond the npm registry): verify before budgeting',
} as const;

/** One price tier: up to `upTo` units a month (cumulative), at `usd` per unit. */
export interface Tier {
  readonly upTo: number;
  readonly usd: number;
}

/** CloudFront's first 10 TB a month, per GB: what one more small answer costs. */
const FIRST_TRANSFER_TIER_USD = 0.085;

export const prices = {
  /** CloudFront HTTPS request, US/Europe. */
  cloudfrontRequest: 0.01 / 10_000,
  /** CloudFront Functions invocation (the path guard, on every bucket behaviour). */
  cloudfrontFunction: 0.1 / 1e6,
  /** CloudFront data transfer out to the internet, per GB, US/Europe, by monthly volume. */
  cloudfrontTransferGb: [
    { upTo: 10 * 1024, usd: FIRST_TRANSFER_TIER_USD },
    { upTo: 50 * 1024, usd: 0.08 },
    { upTo: 150 * 1024, usd: 0.06 },
    { upTo: 500 * 1024, usd: 0.04 },
    { upTo: 1024 * 1024, usd: 0.03 },
    { upTo: 5 * 1024 * 1024, usd: 0.025 },
    { upTo: Infinity, usd: 0.02 },
  ] as readonly Tier[],
  /** AWS WAF: per request inspected, per web ACL a month, per rule or rule group a month. */
  wafRequest: 0.6 / 1e6,
  wafWebAclMonth: 5,
  wafRuleMonth: 1,
  /** API Gateway HTTP API requests (up to 512 KB each), by monthly volume. */
  httpApiRequest: [
    { upTo: 300e6, usd: 1.0 / 1e6 },
    { upTo: Infinity, usd: 0.9 / 1e6 },
  ] as readonly Tier[],
  /** Lambda: per request, per GB-second on ARM (first 7.5 billion GB-s a month). */
  lambdaRequest: 0.2 / 1e6,
  lambdaArmGbSecond: 0.0000133334,
  /** DynamoDB on demand: read and write request units (a replicated write to a global-table replica costs a write unit there too), storage. */
  dynamoReadUnit: 0.125 / 1e6,
  dynamoWriteUnit: 0.625 / 1e6,
  dynamoStorageGbMonth: 0.25,
  /** S3 Standard: storage, PUT and GET requests. */
  s3StorageGbMonth: 0.023,
  s3Put: 0.005 / 1000,
  s3Get: 0.0004 / 1000,
  /** S3 replication: inter-region data transfer and Replication Time Control, per GB replicated. */
  interRegionTransferGb: 0.02,
  s3ReplicationTimeControlGb: 0.015,
  /** KMS: a key a month (each multi-Region replica key too); an asymmetric (ECC) request. */
  kmsKeyMonth: 1,
  kmsAsymmetricRequest: 0.15 / 10_000,
  /** CloudWatch: log ingestion per GB, a custom metric a month, an alarm's metric a month, a dashboard a month (past the free three). */
  logsIngestGb: 0.5,
  customMetricMonth: 0.3,
  alarmMetricMonth: 0.1,
  dashboardMonth: 3,
  /** Route 53: a health check of an AWS endpoint a month, plus HTTPS as an optional feature. */
  route53HealthCheckMonth: 0.5 + 1.0,
} as const;

/** What the fleet does. */
export interface FleetInputs {
  readonly agents: number;
  /** How often an agent polls timestamp.json (runtime.pollSeconds / 60). */
  readonly pollMinutes: number;
  /** Snapshot moves a day: releases, promotes, halts. Each makes every agent ask for a manifest once. */
  readonly releasesPerDay: number;
  /** MB an agent downloads per release as whole files: the files that changed. */
  readonly releaseMb: number;
  /** A binary patch's size as a share of the file it updates (docs/tuf-repository.md: about 1%). */
  readonly patchShare: number;
  readonly replicaRegions: number;
  readonly days: number;
}

/** The default configuration's fleet: cdk.json's fleetSize and pollSeconds, docs/delivery.md's 4 releases a day. */
export const defaultInputs: FleetInputs = {
  agents: 1_000_000,
  pollMinutes: 15,
  releasesPerDay: 4,
  // The measured generator file of docs/tuf-repository.md; replace with your set's changed bytes.
  releaseMb: 60,
  patchShare: 0.01,
  replicaRegions: 0,
  days: 30,
};

/**
 * What one request costs the service beyond its price, as measured or assumed (docs/cost.md
 * says which): response sizes with headers, function memory and duration, DynamoDB units.
 */
export const assumptions = {
  /** timestamp.json is ~480 bytes; with CloudFront's headers about 1 KB a poll. */
  pollBytes: 1_000,
  /** A manifest or report answer with headers. */
  apiResponseBytes: 2_000,
  /** TUF metadata an agent fetches per release (snapshot, targets, set manifest) for a small set. */
  metadataKbPerRelease: 20,
  /** CloudFront requests per agent and release for the downloads: three metadata files and one file (or its patch). */
  downloadRequestsPerRelease: 4,
  /** Manifest: 1,024 MB for about 20 ms (docs/delivery.md); its DynamoDB units as measured (lib/cost/measured.ts: the reads, and the last-seen touch with its seat-index entry). */
  manifest: { memoryGb: 1, seconds: 0.02, ...measuredUnits.perRequest.manifest },
  /** Report: 512 MB for about 20 ms; its DynamoDB units as measured (the agent's item and the version counters, in a transaction). */
  report: { memoryGb: 0.5, seconds: 0.02, ...measuredUnits.perRequest.report },
  /** CloudWatch Logs bytes per API call: the access-log line and the function's START, END, REPORT and one log line. */
  logBytesPerApiCall: 1_000,
  /** A CloudFront standard access-log line in S3 (gzip'd files, so an upper bound), kept logRetentionDays (90). */
  accessLogBytesPerRequest: 300,
  accessLogRetentionDays: 90,
  /** Edge locations that miss timestamp.json at most once a minute each (its 60 s TTL): an upper bound on S3 GETs. */
  edgeLocations: 600,
  /** WAF rules: rate limit, four managed rule groups, the body-size rule (docs/cdk.md, "WAF"). */
  wafRules: 6,
  /** Per region: alarms' metrics (about 30), custom metrics (5: registrations, auto-halts, metadata expiring, the timestamp check's two). */
  alarmMetricsPerRegion: 30,
  customMetricsPerRegion: 5,
  /** KMS keys: CDN and two TUF online keys, in every region (replica keys), plus each region's alarm-topic key. */
  signingKeys: 3,
  /** Timestamp re-signs a month (hourly) and grant signatures (a few per product an hour): KMS requests, a bound. */
  kmsRequestsPerMonth: 100_000,
  /** The timestamp check: every 5 minutes per region, 256 MB for about 0.3 s. */
  checksPerRegionMonth: (30 * 24 * 60) / 5,
  checkGbSeconds: 0.256 * 0.3,
} as const;

export interface CostLine {
  readonly group: 'CDN and edge' | 'API' | 'Data' | 'Fixed and monitoring' | 'Regions';
  readonly item: string;
  /** How the quantity is made, in words and figures. */
  readonly formula: string;
  readonly usd: number;
}

export interface CostReport {
  readonly inputs: FleetInputs;
  readonly volumes: {
    readonly polls: number;
    readonly manifests: number;
    readonly reports: number;
    readonly cdnRequests: number;
  };
  /** Everything but release downloads. */
  readonly lines: readonly CostLine[];
  readonly beforeDownloads: number;
  /** Release downloads (CloudFront transfer), per release and a month, with and without patches. */
  readonly downloads: {
    readonly perReleaseGbWhole: number;
    readonly perReleaseGbPatched: number;
    readonly monthUsdWhole: number;
    readonly monthUsdPatched: number;
  };
  /** The same polls answered by the CDN (as built) and by the API (POST /v1/manifest each time), per million and a month. */
  readonly polls: {
    readonly cdnPerMillion: number;
    readonly lambdaPerMillion: number;
    readonly cdnMonth: number;
    readonly lambdaMonth: number;
  };
}

/** The cost of `quantity` units under tiered prices. */
export function tiered(quantity: number, tiers: readonly Tier[]): number {
  let usd = 0;
  let from = 0;
  for (const { upTo, usd: unit } of tiers) {
    if (quantity <= from) break;
    usd += (Math.min(quantity, upTo) - from) * unit;
    from = upTo;
  }
  return usd;
}

const GB = 1024 ** 3;
const MB = 1024 ** 2;

/** What one API call costs beyond CloudFront and WAF, at the marginal HTTP API price. */
function apiCallUsd(call: { memoryGb: number; seconds: number; readUnits: number; writeUnits: number }, replicas: number, httpApiUnit: number): number {
  return (
    httpApiUnit +
    prices.lambdaRequest +
    call.memoryGb * call.seconds * prices.lambdaArmGbSecond +
    call.readUnits * prices.dynamoReadUnit +
    call.writeUnits * (1 + replicas) * prices.dynamoWriteUnit +
    (assumptions.logBytesPerApiCall / GB) * prices.logsIngestGb
  );
}

export function costModel(inputs: FleetInputs): CostReport {
  const { agents, pollMinutes, releasesPerDay, days, replicaRegions } = inputs;
  const regions = 1 + replicaRegions;
  const pollsPerAgent = ((24 * 60) / pollMinutes) * days;
  // An agent learns of at most one snapshot move per poll.
  const movesPerAgent = Math.min(releasesPerDay * days, pollsPerAgent);
  const polls = agents * pollsPerAgent;
  const manifests = agents * movesPerAgent;
  const reports = agents * movesPerAgent;
  const apiCalls = manifests + reports;
  const downloadRequests = agents * movesPerAgent * assumptions.downloadRequestsPerRelease;
  const cdnRequests = polls + apiCalls + downloadRequests;
  const fmt = (n: number) => formatCount(n);

  const pollGb = (polls * assumptions.pollBytes) / GB;
  const apiGb = (apiCalls * assumptions.apiResponseBytes) / GB;
  const metadataGb = (agents * movesPerAgent * assumptions.metadataKbPerRelease * 1024) / GB;
  const baseTransferGb = pollGb + apiGb + metadataGb;
  const lambdaGbSeconds = manifests * assumptions.manifest.memoryGb * assumptions.manifest.seconds + reports * assumptions.report.memoryGb * assumptions.report.seconds;
  const readUnits = manifests * assumptions.manifest.readUnits + reports * assumptions.report.readUnits;
  const writeUnits = (manifests * assumptions.manifest.writeUnits + reports * assumptions.report.writeUnits) * regions;
  const logGb = (apiCalls * assumptions.logBytesPerApiCall) / GB;
  const originGets = assumptions.edgeLocations * days * 24 * 60;
  // Steady state: the months of logs retention keeps, each a month's requests.
  const accessLogGb = ((cdnRequests * assumptions.accessLogBytesPerRequest) / GB) * (assumptions.accessLogRetentionDays / days);
  const releaseGbWhole = inputs.releaseMb * MB / GB;
  // Bytes written to the bucket a month and replicated to each replica: each release's files and its patches from the last 3 versions.
  const replicatedGb = releasesPerDay * days * releaseGbWhole * (1 + 3 * inputs.patchShare);
  const signingKeys = assumptions.signingKeys * regions + regions;

  const lines: CostLine[] = [
    { group: 'CDN and edge', item: 'CloudFront requests', formula: `${fmt(polls)} polls + ${fmt(apiCalls)} API calls + ${fmt(downloadRequests)} release fetches = ${fmt(cdnRequests)} x $0.01 per 10,000`, usd: cdnRequests * prices.cloudfrontRequest },
    { group: 'CDN and edge', item: 'CloudFront Functions (path guard)', formula: `${fmt(polls + downloadRequests)} bucket requests x $0.10 per million`, usd: (polls + downloadRequests) * prices.cloudfrontFunction },
    { group: 'CDN and edge', item: 'CloudFront transfer, polls, API and metadata', formula: `${formatGb(baseTransferGb)} (polls ${formatCount(assumptions.pollBytes)} B, API ${formatCount(assumptions.apiResponseBytes)} B, ${assumptions.metadataKbPerRelease} KB metadata per release) at $0.085/GB, tiered`, usd: tiered(baseTransferGb, prices.cloudfrontTransferGb) },
    { group: 'CDN and edge', item: 'WAF requests', formula: `${fmt(cdnRequests)} x $0.60 per million`, usd: cdnRequests * prices.wafRequest },
    { group: 'CDN and edge', item: 'WAF web ACL and rules', formula: `$5 + ${assumptions.wafRules} rules x $1`, usd: prices.wafWebAclMonth + assumptions.wafRules * prices.wafRuleMonth },
    { group: 'API', item: 'HTTP API requests', formula: `${fmt(manifests)} manifests + ${fmt(reports)} reports at $1.00 per million (past 300 M: $0.90)`, usd: tiered(apiCalls, prices.httpApiRequest) },
    { group: 'API', item: 'Lambda requests and duration (ARM)', formula: `${fmt(apiCalls)} x $0.20 per million + ${fmt(lambdaGbSeconds)} GB-s x $0.0000133334`, usd: apiCalls * prices.lambdaRequest + lambdaGbSeconds * prices.lambdaArmGbSecond },
    { group: 'API', item: 'DynamoDB on-demand requests', formula: `${fmt(readUnits)} read units x $0.125 + ${fmt(writeUnits)} write units (each in ${regions} region${regions === 1 ? '' : 's'}) x $0.625, per million`, usd: readUnits * prices.dynamoReadUnit + writeUnits * prices.dynamoWriteUnit },
    { group: 'API', item: 'CloudWatch Logs ingestion', formula: `${formatGb(logGb)} (${formatCount(assumptions.logBytesPerApiCall)} B per API call) x $0.50/GB`, usd: logGb * prices.logsIngestGb },
    { group: 'Data', item: 'DynamoDB storage', formula: `about 1 KB per agent: ${formatGb((agents * 1024) / GB)} x ${regions} x $0.25/GB-month`, usd: ((agents * 1024) / GB) * regions * prices.dynamoStorageGbMonth },
    { group: 'Data', item: 'S3 origin GETs (timestamp.json misses, an upper bound)', formula: `${assumptions.edgeLocations} edge locations x 1 a minute = ${fmt(originGets)} x $0.0004 per 1,000`, usd: originGets * prices.s3Get },
    {
      group: 'Data',
      item: 'CloudFront access logs in S3',
      formula: `${fmt(cdnRequests)} lines x ${assumptions.accessLogBytesPerRequest} B, ${assumptions.accessLogRetentionDays} days kept: ${formatGb(accessLogGb)} x $0.023/GB-month`,
      usd: accessLogGb * prices.s3StorageGbMonth,
    },
    { group: 'Data', item: 'S3 storage of releases', formula: `5 retained versions x ${inputs.releaseMb} MB (+ patches) x ${regions} x $0.023/GB-month`, usd: 5 * releaseGbWhole * (1 + 3 * inputs.patchShare) * regions * prices.s3StorageGbMonth },
    { group: 'Fixed and monitoring', item: 'KMS keys and signatures', formula: `${signingKeys} keys x $1 + ${fmt(assumptions.kmsRequestsPerMonth)} requests x $0.15 per 10,000`, usd: signingKeys * prices.kmsKeyMonth + assumptions.kmsRequestsPerMonth * prices.kmsAsymmetricRequest },
    {
      group: 'Fixed and monitoring',
      item: 'CloudWatch alarms, custom metrics, dashboards',
      formula: `${regions} x (${assumptions.alarmMetricsPerRegion} alarm metrics x $0.10 + ${assumptions.customMetricsPerRegion} metrics x $0.30) + dashboards past 3 x $3`,
      usd: regions * (assumptions.alarmMetricsPerRegion * prices.alarmMetricMonth + assumptions.customMetricsPerRegion * prices.customMetricMonth) + Math.max(0, regions - 3) * prices.dashboardMonth,
    },
    {
      group: 'Fixed and monitoring',
      item: 'timestamp.json check',
      formula: `${regions} x ${fmt(assumptions.checksPerRegionMonth)} runs (Lambda, CloudFront, WAF)`,
      usd: regions * assumptions.checksPerRegionMonth * (prices.lambdaRequest + assumptions.checkGbSeconds * prices.lambdaArmGbSecond + prices.cloudfrontRequest + prices.wafRequest + prices.cloudfrontFunction),
    },
  ];
  if (replicaRegions > 0) {
    lines.push(
      { group: 'Regions', item: 'Route 53 health checks (HTTPS)', formula: `${regions} x $1.50`, usd: regions * prices.route53HealthCheckMonth },
      {
        group: 'Regions',
        item: 'S3 replication with RTC',
        formula: `${formatGb(replicatedGb)} a month x ${replicaRegions} replica${replicaRegions === 1 ? '' : 's'} x ($0.02 transfer + $0.015 RTC)`,
        usd: replicatedGb * replicaRegions * (prices.interRegionTransferGb + prices.s3ReplicationTimeControlGb),
      },
    );
  }
  const beforeDownloads = lines.reduce((sum, line) => sum + line.usd, 0);

  // Release downloads: whole changed files, or a patch of each. Priced at the tier the month's other transfer leaves.
  const releases = agents * movesPerAgent;
  const wholeGb = releases * releaseGbWhole;
  const patchedGb = wholeGb * inputs.patchShare;
  const above = (gb: number) => tiered(baseTransferGb + gb, prices.cloudfrontTransferGb) - tiered(baseTransferGb, prices.cloudfrontTransferGb);

  // Polls: as built, a CDN hit; the alternative, an API call each.
  const cdnPoll = prices.cloudfrontRequest + prices.cloudfrontFunction + prices.wafRequest + (assumptions.pollBytes / GB) * FIRST_TRANSFER_TIER_USD;
  // Last-seen is written at most hourly: one poll in 60 / pollMinutes writes.
  const pollCall = { ...assumptions.manifest, writeUnits: Math.min(1, pollMinutes / 60) * assumptions.manifest.writeUnits };
  const lambdaPoll = prices.cloudfrontRequest + prices.wafRequest + (assumptions.apiResponseBytes / GB) * FIRST_TRANSFER_TIER_USD + apiCallUsd(pollCall, replicaRegions, 0);
  const lambdaPollMonth = polls * lambdaPoll + tiered(polls, prices.httpApiRequest);

  return {
    inputs,
    volumes: { polls, manifests, reports, cdnRequests },
    lines,
    beforeDownloads,
    downloads: {
      perReleaseGbWhole: agents * releaseGbWhole,
      perReleaseGbPatched: agents * releaseGbWhole * inputs.patchShare,
      monthUsdWhole: above(wholeGb),
      monthUsdPatched: above(patchedGb),
    },
    polls: {
      cdnPerMillion: cdnPoll * 1e6,
      lambdaPerMillion: (lambdaPoll + tiered(1e6, prices.httpApiRequest) / 1e6) * 1e6,
      cdnMonth: polls * cdnPoll,
      lambdaMonth: lambdaPollMonth,
    },
  };
}

/** 2.88 B, 240 M, 43.2 k, 512. */
export function formatCount(n: number): string {
  const scaled = (value: number, suffix: string) => `${Number(value.toPrecision(3)).toLocaleString('en-US')} ${suffix}`;
  if (n >= 1e9) return scaled(n / 1e9, 'B');
  if (n >= 1e6) return scaled(n / 1e6, 'M');
  if (n >= 1e4) return scaled(n / 1e3, 'k');
  return Number(n.toPrecision(3)).toLocaleString('en-US');
}

function formatGb(gb: number): string {
  if (gb >= 1024 * 1024) return `${Number((gb / 1024 / 1024).toPrecision(3))} PB`;
  return gb >= 1024 ? `${Number((gb / 1024).toPrecision(3))} TB` : `${Number(gb.toPrecision(3))} GB`;
}

/** Whole dollars with thousands separators ($5,321); cents below $10 ($0.24), so a small line does not read as free. */
export function usd(amount: number): string {
  if (amount < 10) return `$${amount.toFixed(2)}`;
  return `$${Math.round(amount).toLocaleString('en-US')}`;
}

/** Where a price came from: seen in a stored copy of a pricing page (or a summary of one) on PRICES_READ.on, or known. */
type PriceSource = 'stored page' | 'known';

/** The prices as a Markdown table: what docs/cost.md lists, from the same figures the model uses. */
export function formatPrices(): string {
  const money = (n: number) => `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 10 })}`;
  const rows: Array<[string, string, PriceSource]> = [
    ['CloudFront HTTPS request (US, Europe)', `${money(prices.cloudfrontRequest * 10_000)} per 10,000`, 'known'],
    ['CloudFront Functions invocation', `${money(prices.cloudfrontFunction * 1e6)} per million`, 'stored page'],
    ['CloudFront transfer out (US, Europe), per GB', prices.cloudfrontTransferGb.map((t) => `${money(t.usd)}${Number.isFinite(t.upTo) ? ` to ${formatGb(t.upTo)}` : ' beyond'}`).join(', '), 'stored page'],
    ['AWS WAF', `${money(prices.wafRequest * 1e6)} per million requests, ${money(prices.wafWebAclMonth)} per web ACL and ${money(prices.wafRuleMonth)} per rule a month`, 'known'],
    ['API Gateway HTTP API', prices.httpApiRequest.map((t) => `${money(t.usd * 1e6)} per million${Number.isFinite(t.upTo) ? ` to ${formatCount(t.upTo)}` : ' beyond'}`).join(', '), 'stored page'],
    ['Lambda (ARM)', `${money(prices.lambdaRequest * 1e6)} per million requests, ${money(prices.lambdaArmGbSecond)} per GB-second`, 'stored page'],
    ['DynamoDB on demand', `${money(prices.dynamoReadUnit * 1e6)} per million read units, ${money(prices.dynamoWriteUnit * 1e6)} per million write units (replicated ones too), ${money(prices.dynamoStorageGbMonth)} per GB-month`, 'stored page'],
    ['S3 Standard', `${money(prices.s3StorageGbMonth)} per GB-month, ${money(prices.s3Put * 1000)} per 1,000 PUT, ${money(prices.s3Get * 1000)} per 1,000 GET`, 'known'],
    ['S3 replication', `${money(prices.interRegionTransferGb)} per GB inter-region transfer, ${money(prices.s3ReplicationTimeControlGb)} per GB Replication Time Control`, 'known'],
    ['KMS', `${money(prices.kmsKeyMonth)} per key a month (each replica key too), ${money(prices.kmsAsymmetricRequest * 10_000)} per 10,000 asymmetric requests`, 'known'],
    ['CloudWatch', `${money(prices.logsIngestGb)} per GB of logs ingested, ${money(prices.customMetricMonth)} per custom metric, ${money(prices.alarmMetricMonth)} per alarm metric, ${money(prices.dashboardMonth)} per dashboard past three, a month`, 'known'],
    ['Route 53 health check', `${money(prices.route53HealthCheckMonth)} a month (an AWS endpoint $0.50, HTTPS $1.00)`, 'known'],
  ];
  const source = (from: PriceSource) => (from === 'stored page' ? `stored page, read ${PRICES_READ.on}` : 'known 2025 list price, not re-read');
  return ['| service | list price (us-east-1) | source |', '| --- | --- | --- |', ...rows.map(([service, price, from]) => `| ${service} | ${price} | ${source(from)} |`), '', `${PRICES_READ.note}.`].join('\n');
}

/** The report as the Markdown docs/cost.md holds between its markers, and `npm run cost` prints. */
export function formatReport(report: CostReport): string {
  const { inputs, downloads, polls } = report;
  const rows = report.lines.map((line) => `| ${line.group} | ${line.item} | ${line.formula} | ${usd(line.usd)} |`);
  const total = report.beforeDownloads;
  return [
    `${formatCount(inputs.agents)} agents polling every ${inputs.pollMinutes} min, ${inputs.releasesPerDay} releases a day of ${inputs.releaseMb} MB changed, ` +
      `${inputs.replicaRegions} replica region${inputs.replicaRegions === 1 ? '' : 's'}, ${inputs.days} days; prices read ${PRICES_READ.on}.`,
    '',
    '| group | item | formula | per month |',
    '| --- | --- | --- | ---: |',
    ...rows,
    `| | **before downloads** | | **${usd(total)}** |`,
    '',
    '| release downloads | per release | per month |',
    '| --- | ---: | ---: |',
    `| whole files (${inputs.releaseMb} MB per agent) | ${formatGb(downloads.perReleaseGbWhole)} | ${usd(downloads.monthUsdWhole)} |`,
    `| binary patches (${Number((inputs.patchShare * 100).toPrecision(3))}% of the file) | ${formatGb(downloads.perReleaseGbPatched)} | ${usd(downloads.monthUsdPatched)} |`,
    '',
    `| polls: ${formatCount(report.volumes.polls)} a month | per million | per month |`,
    '| --- | ---: | ---: |',
    `| answered by the CDN (timestamp.json, as built) | $${polls.cdnPerMillion.toFixed(2)} | ${usd(polls.cdnMonth)} |`,
    `| answered by Lambda (POST /v1/manifest every poll) | $${polls.lambdaPerMillion.toFixed(2)} | ${usd(polls.lambdaMonth)} |`,
    '',
    `Total with patches: **${usd(total + downloads.monthUsdPatched)}** a month; with whole files: **${usd(total + downloads.monthUsdWhole)}**.`,
  ].join('\n');
}
