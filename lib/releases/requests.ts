/** Request bodies of the release endpoints (zod/mini, strict). */
import * as z from 'zod/mini';
import { pageQuery } from '#lib/aws/pages.ts';
import { productName } from '#lib/licensing/requests.ts';

export const channelName = z.string().check(z.minLength(1), z.maxLength(63), z.regex(/^[a-z0-9][a-z0-9-]*$/));
export const versionString = z.string().check(z.minLength(1), z.maxLength(43), z.regex(/^(0|[1-9]\d{0,9})(\.(0|[1-9]\d{0,9})){0,3}$/));

export const commitBody = z.strictObject({
  product: productName,
  version: versionString,
  targets: z.record(z.string(), z.unknown()),
});

export const rootBody = z.strictObject({ root: z.record(z.string(), z.unknown()) });

export const promoteBody = z.strictObject({
  version: versionString,
  percent: z.number().check(z.minimum(0), z.maximum(100)),
});

export const auditQuery = z.strictObject({ day: z.optional(z.string().check(z.regex(/^\d{4}-\d{2}-\d{2}$/))), ...pageQuery.shape });
