/** Request bodies of the agent delivery endpoints (zod/mini, strict). */
import * as z from 'zod/mini';
import { freeText } from '#lib/http/text.ts';
import { mirrorId, productName } from '#lib/licensing/requests.ts';
import { channelName, versionString } from '#lib/releases/requests.ts';

export const manifestBody = z.strictObject({
  product: productName,
  channel: z.optional(channelName),
  installedVersion: z.optional(versionString),
});

/**
 * What an agent says about an install, one definition for every way a report travels: to
 * the service or a mirror (`reportBody`, with the channel the agent follows), and from a
 * mirror upstream (`relayedReport`, with the agent's id at the mirror and when it said
 * it). A mirror checks what it queues and what it imports with the same schema the
 * upstream checks the relay with, so nothing it queues can be refused there.
 */
const reportFields = {
  product: productName,
  installedVersion: versionString,
  result: z.enum(['ok', 'failed']),
  detail: z.optional(freeText(1000)),
};

export const reportBody = z.strictObject({
  ...reportFields,
  /** The channel the agent follows (default `stable`): whose rollout a failure counts against. */
  channel: z.optional(channelName),
});

/** How many reports one relay may carry. */
export const MAX_RELAYED_REPORTS = 500;

/** One report a mirror relays: an agent's, as the mirror took it (lib/delivery/relay.ts `RelayedReport`). */
export const relayedReport = z.strictObject({
  /** The agent's id at the mirror: 32 lower-case hex, as agent ids are upstream. */
  agentId: z.string().check(z.regex(/^[0-9a-f]{32}$/)),
  ...reportFields,
  at: z.iso.datetime({ offset: true }).check(z.maxLength(40)),
});

/**
 * POST /v1/mirrors/reports: what a mirror's agents reported to it, oldest or newest first
 * (the service orders them). `origin`: the mirror whose agents they are, when it is not the
 * one relaying (an isolated mirror's reports, carried out as a file and imported here); it
 * must be leased under the same license, and its seats bound them.
 */
export const relayedReportsBody = z.strictObject({
  licenseKey: freeText(64, 1),
  mirrorId,
  origin: z.optional(mirrorId),
  reports: z.array(relayedReport).check(z.minLength(1), z.maxLength(MAX_RELAYED_REPORTS)),
});
