import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import type { MirrorsDeps } from '#functions/mirrors/handler.ts';
import { createMirrorsHandler } from '#functions/mirrors/handler.ts';
import { RateLimiter } from '#lib/http/rate-limit.ts';
import type { LicensingStore } from '#lib/licensing/store.ts';
import { createLogger, logMessages } from '#lib/log.ts';
import { FakeLicensingStore } from '#test/support/fakes.ts';
import { testLicense } from '#test/support/licenses.ts';
import { MIRROR, now, relaySetup, report } from '#test/support/relay.ts';

describe('the mirrors handler', () => {
  function handlerWith(overrides: Partial<MirrorsDeps> = {}) {
    const { deps } = relaySetup({ failureRate: 0.5, minReports: 1 });
    const store = new FakeLicensingStore();
    const { key, license: record } = testLicense({ seats: 5 });
    store.licenses.set(record.licenseId, record);
    store.mirrors.set(MIRROR.mirrorId, { mirrorId: MIRROR.mirrorId, licenseId: record.licenseId, seats: 1, leaseExpiresAt: now.toISOString(), leasedAt: now.toISOString(), createdAt: now.toISOString(), revision: 1 });
    const logger = createLogger('test');
    const full = {
      mirrors: store as unknown as LicensingStore,
      lease: {} as MirrorsDeps['lease'],
      relay: deps,
      repository: {} as MirrorsDeps['repository'],
      admit: () => undefined,
      logger,
      now: () => now,
      ...overrides,
    } satisfies MirrorsDeps;
    return { handler: createMirrorsHandler(full), key, logger };
  }
  const call = (handler: ReturnType<typeof createMirrorsHandler>, routeKey: string, body: unknown, ip = '192.0.2.1') =>
    handler(
      { routeKey, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), isBase64Encoded: false, requestContext: { http: { sourceIp: ip } } } as unknown as APIGatewayProxyEventV2,
      { awsRequestId: 'r1' } as Context,
    );

  it('answers 202 { accepted, skipped, reasons } and logs the message the auto-halt metric filter counts when relayed reports halt a rollout', async () => {
    const { handler, key, logger } = handlerWith();
    const warned = vi.spyOn(logger, 'warn').mockImplementation(() => undefined);
    const result = await call(handler, 'POST /v1/mirrors/reports', { licenseKey: key, mirrorId: MIRROR.mirrorId, reports: [report({ installedVersion: '1.1.0', result: 'failed' }), report({ product: 'x-av' })] });
    expect(result).toMatchObject({ statusCode: 202 });
    expect(JSON.parse(String((result as { body: string }).body))).toEqual({ accepted: 1, skipped: 1, reasons: { 'product not entitled': 1 } });
    expect(warned).toHaveBeenCalledWith(logMessages.autoHalt, expect.objectContaining({ product: 'demo-av', version: '1.1.0', failed: 1, mirrorId: MIRROR.mirrorId }));
  });

  it.each([
    ['POST /v1/mirrors/lease', { licenseKey: 'k', mirrorId: 'A'.repeat(32), seats: 1 }, 'mirrorId: has characters or a form that is not allowed'],
    ['POST /v1/mirrors/lease', { licenseKey: 'k', mirrorId: 'a'.repeat(32), seats: 1.5 }, 'seats: must be a whole number'],
    ['POST /v1/mirrors/lease', { licenseKey: 'k', mirrorId: 'a'.repeat(32), seats: 100_001 }, 'seats: must be at most 100000'],
    ['POST /v1/mirrors/lease', { licenseKey: 'k', mirrorId: 'a'.repeat(32), seats: 1, validDays: 31 }, 'validDays: must be at most 30'],
    ['POST /v1/mirrors/reports', { licenseKey: 'k', mirrorId: 'a'.repeat(32), reports: [] }, 'reports: must be at least 1'],
    ['POST /v1/mirrors/reports', { licenseKey: 'k', mirrorId: 'a'.repeat(32), reports: [report({ at: 'yesterday' })] }, 'reports.0.at: must be a valid datetime'],
    ['POST /v1/mirrors/reports', { licenseKey: 'k', mirrorId: 'a'.repeat(32), reports: [report({ detail: 'a\u001bb' })] }, 'reports.0.detail: must not contain control characters'],
    ['POST /v1/mirrors/offline-timestamp', { licenseKey: 'k', mirrorId: 'a'.repeat(32) }, 'validDays: is required'],
    ['POST /v1/mirrors/offline-timestamp', { licenseKey: 'k', mirrorId: 'a'.repeat(32), validDays: 0 }, 'validDays: must be at least 1'],
  ])('%s: bad input is 400 naming the field (%j)', async (routeKey, body, message) => {
    const { handler } = handlerWith();
    const result = await call(handler, routeKey, body);
    expect(result).toMatchObject({ statusCode: 400 });
    expect(JSON.parse(String((result as { body: string }).body))).toEqual({ error: { code: 'INVALID_REQUEST', message } });
  });

  it('limits each client address, before reading the body: 429 RATE_LIMITED with Retry-After', async () => {
    const limiter = new RateLimiter({ perSecond: 1 / 60, burst: 2 });
    const { handler } = handlerWith({ admit: (address) => limiter.take(address) });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push(((await call(handler, 'POST /v1/mirrors/lease', {})) as { statusCode: number }).statusCode);
    expect(statuses).toEqual([400, 400, 429]);
    expect(await call(handler, 'POST /v1/mirrors/lease', {}, '192.0.2.2')).toMatchObject({ statusCode: 400 });
    expect(await call(handler, 'POST /v1/mirrors/lease', {})).toMatchObject({ statusCode: 429, headers: expect.objectContaining({ 'retry-after': expect.any(String) }) });
  });
});
