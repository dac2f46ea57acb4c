/** Request bodies of the agent delivery endpoints (zod/mini, strict). */
import * as z from 'zod/mini';
import { freeText } from '#lib/http/text.ts';
import { productName } from '#lib/licensing/requests.ts';
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
