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

export const reportBody = z.strictObject({
  product: productName,
  /** The channel the agent follows (default `stable`): whose rollout a failure counts against. */
  channel: z.optional(channelName),
  installedVersion: versionString,
  result: z.enum(['ok', 'failed']),
  detail: z.optional(freeText(1000)),
});

/** How many reports one relay may carry. */
export const MAX_RELAYED_REPORTS = 500;

/** POST /v1/mirrors/reports: what a mirror's agents reported to it, oldest or newest first (the service orders them). */
export const relayedReportsBody = z.strictObject({
  licenseKey: freeText(64, 1),
  mirrorId,
  reports: z
    .array(
      z.strictObject({
        /** The agent's id at the mirror: 32 lower-case hex, as agent ids are upstream. */
        agentId: z.string().check(z.regex(/^[0-9a-f]{32}$/)),
        product: productName,
        installedVersion: versionString,
        result: z.enum(['ok', 'failed']),
        detail: z.optional(freeText(1000)),
        at: z.iso.datetime({ offset: true }).check(z.maxLength(40)),
      }),
    )
    .check(z.minLength(1), z.maxLength(MAX_RELAYED_REPORTS)),
});
