/**
 * POST /v1/reports: an agent says what it installed and whether it worked. The service
 * keeps the agent's last report and per-version counters, and halts a rollout whose new
 * version fails too often (SIGNET_HALT_FAILURE_RATE of at least SIGNET_HALT_MIN_REPORTS reports).
 */
import { dynamo } from '#lib/aws/clients.ts';
import { tableConfig } from '#lib/config.ts';
import { FleetStore, shouldHalt } from '#lib/delivery/fleet.ts';
import { DEFAULT_CHANNEL } from '#lib/delivery/manifest.ts';
import { reportBody } from '#lib/delivery/requests.ts';
import { parseJsonBody } from '#lib/http/body.ts';
import { ApiError, invalidRequest } from '#lib/http/errors.ts';
import { apiHandler } from '#lib/http/handler.ts';
import { RateLimiter, rateLimitFromEnv } from '#lib/http/rate-limit.ts';
import { json } from '#lib/http/response.ts';
import { authenticateAgent, bearerToken } from '#lib/licensing/authenticate.ts';
import { LicensingStore } from '#lib/licensing/store.ts';
import { halt } from '#lib/releases/channels.ts';
import type { Channel } from '#lib/releases/store.ts';
import { ReleaseStore, channelKey, releaseKey } from '#lib/releases/store.ts';

const { mainTable } = tableConfig();
const licensing = new LicensingStore(dynamo(), mainTable);
const releases = new ReleaseStore(dynamo(), mainTable);
const fleet = new FleetStore(dynamo(), mainTable);
const limiter = new RateLimiter(rateLimitFromEnv('REPORTS', { perMinute: 30, burst: 10 }));
const policy = {
  failureRate: Number(process.env.SIGNET_HALT_FAILURE_RATE ?? 0.2),
  minReports: Number(process.env.SIGNET_HALT_MIN_REPORTS ?? 20),
};

export const handler = apiHandler(async (event) => {
  const report = parseJsonBody(event, reportBody);
  const now = new Date();
  const channelName = report.channel ?? DEFAULT_CHANNEL;
  // The channel and the release reported on come with the authentication's one BatchGetItem.
  const { agent, extra } = await authenticateAgent(licensing, bearerToken(event.headers), now, [channelKey(report.product, channelName), releaseKey(report.product, report.installedVersion)]);
  limiter.take(agent.agentId);
  if (report.product !== agent.product) throw new ApiError('PRODUCT_NOT_ENTITLED', `this agent is registered for ${agent.product}, not ${report.product}`);
  if (!extra[1]) throw invalidRequest('installedVersion', `is not a released version of ${report.product}`);

  let previous = agent.installedVersion;
  for (let attempt = 0; ; attempt++) {
    const recorded = await fleet.record({ agentId: agent.agentId, product: report.product, previousVersion: previous, version: report.installedVersion, result: report.result, ...(report.detail && { detail: report.detail }), now });
    if (recorded) break;
    // Another report of this agent landed first: record over what it wrote.
    if (attempt >= 3) throw new ApiError('UNAVAILABLE', 'reports of this agent are racing, retry later', { 'retry-after': '2' });
    previous = (await licensing.getAgent(agent.agentId))?.installedVersion;
  }

  // A report on the version a channel is rolling out may halt it: count with this report
  // included (a consistent read after the write, since reports arrive concurrently).
  const channel = extra[0] as Channel | undefined;
  if (channel && channel.status === 'active' && channel.version === report.installedVersion) {
    const counters = await fleet.counters(report.product, report.installedVersion);
    if (counters && shouldHalt(counters, policy)) {
      await halt(releases, { product: report.product, channel: channelName }, 'signet:auto-halt', now);
      console.log(JSON.stringify({ level: 'warn', message: 'rollout halted by its failure rate', product: report.product, channel: channelName, version: channel.version, ok: counters.ok, failed: counters.failed }));
    }
  }
  return json(202, {});
});
