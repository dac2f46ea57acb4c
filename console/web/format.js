/**
 * What the page computes from the admin API's answers, free of the DOM: shares, failure
 * rates, the chart's bars, the confirmations' wording. Unit-tested (test/unit/console).
 */

/** The actor of a halt the reports made (lib/delivery/reports.ts, AUTO_HALT_ACTOR). */
export const AUTO_HALT_ACTOR = 'signet:auto-halt';

/** `part` of `total` as a percentage with one decimal, or an en dash when there is no total. */
export function share(part, total) {
  return total > 0 ? `${((100 * part) / total).toFixed(1)}%` : '–';
}

/** A version's failure rate among its reports, and whether it is high enough to flag (10% or more). */
export function failureRate({ ok, failed }) {
  const reports = ok + failed;
  return { reports, text: share(failed, reports), high: reports > 0 && failed / reports >= 0.1 };
}

/**
 * The bars of the version chart: one per version, newest first as the API lists them,
 * each `width` (0 to `max`) proportional to its agents, the longest bar full width.
 */
export function chartBars(versions, max) {
  const most = Math.max(0, ...versions.map((v) => v.agents));
  return versions.map((v) => ({ version: v.version, agents: v.agents, width: most > 0 ? Math.round((max * Math.max(0, v.agents)) / most) : 0 }));
}

/** How long ago `iso` was, in the largest whole unit: "5 min ago", "3 d ago". */
export function ago(iso, now = Date.now()) {
  if (!iso) return 'never';
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86_400)} d ago`;
}

/** A channel's state in words: complete, a wave in progress, or halted (and by whom). */
export function channelState(channel) {
  if (channel.status === 'halted') {
    return channel.updatedBy === AUTO_HALT_ACTOR ? 'halted automatically: its failure rate' : `halted by ${channel.updatedBy}`;
  }
  return channel.percent >= 100 ? 'complete' : `rolling out to ${channel.percent}%`;
}

/**
 * The version agents outside the wave keep after promoting `version`: the channel's
 * current one if it had reached everyone, else its fallback (lib/releases/channels.ts).
 */
function fallbackAfterPromote(channel, version) {
  const outgoingComplete = channel.version !== version && channel.status === 'active' && channel.percent >= 100;
  return outgoingComplete ? channel.version : channel.previousVersion;
}

/** What promoting `version` on `channel` to `percent` will do, said before it is done. */
export function promoteSummary(channel, version, percent) {
  const target = `${channel.product} ${version} on channel ${channel.channel}`;
  const lifts = channel.status === 'halted' ? ' This lifts the halt.' : '';
  if (percent >= 100) return `Promote ${target} to every agent (100%): each gets ${version} at its next poll, and the rollout is complete.${lifts}`;
  const fallback = fallbackAfterPromote(channel, version);
  return `Promote ${target} to ${percent}% of agents: those in the wave get ${version} at their next poll; the other ${100 - percent}% ${fallback ? `stay on ${fallback}` : 'get nothing'}.${lifts}`;
}

/** What halting `channel` will do (agents never go below what they have installed). */
export function haltSummary(channel) {
  const rest = channel.previousVersion ? `agents that do not have it yet stay on ${channel.previousVersion}` : 'agents that do not have it yet get nothing';
  return `Halt channel ${channel.channel} of ${channel.product}: no more agents get ${channel.version}; ${rest}. Agents that installed ${channel.version} keep it. Promote again to resume.`;
}

/** A license's expiry in words, from its ISO instant. */
export function expiryText(expiresAt, now = Date.now()) {
  const day = expiresAt.slice(0, 10);
  return Date.parse(expiresAt) <= now ? `expired ${day}` : day;
}
