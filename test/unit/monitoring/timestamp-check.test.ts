/**
 * The check of timestamp.json as agents see it: what an answer means (hours left, or why
 * it is no timestamp), which metric values each run publishes, the alarm threshold the
 * config implies, and the handler end to end against a real HTTP server serving a real
 * signed timestamp.json.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cachedOnSuccess, createTimestampCheckHandler, fetchTimestamp, metricsPublisher } from '#functions/timestamp-check/handler.ts';
import { createLogger } from '#lib/log.ts';
import {
  MAX_TIMESTAMP_BYTES,
  evaluateTimestamp,
  metricValues,
  nearExpiryThresholdHours,
  timestampCheckMetrics,
  timestampUrl,
} from '#lib/monitoring/timestamp-check.ts';
import { refreshRepository } from '#lib/releases/repository.ts';
import { memoryRepositoryDeps, publishedRepository } from '#test/support/memory-repository.ts';

const HOUR_MS = 3_600_000;
const signedAt = new Date('2027-01-01T00:00:00Z');
let timestampJson: string;

beforeAll(async () => {
  // What the service serves: the refresh's timestamp.json (version 2), signed with the online key, valid 24 h.
  const { repo } = await publishedRepository(signedAt);
  await refreshRepository(memoryRepositoryDeps(repo, () => signedAt));
  timestampJson = repo.objects.get('metadata/timestamp.json')?.toString() ?? '';
  expect(timestampJson).not.toBe('');
});

describe('evaluateTimestamp', () => {
  it('reads the signed expires of a served timestamp.json: hours left, its version and the snapshot it names', () => {
    const expires = JSON.parse(timestampJson).signed.expires as string;
    const result = evaluateTimestamp({ status: 200, body: timestampJson }, new Date(Date.parse(expires) - 21.5 * HOUR_MS));
    expect(result).toEqual({ ok: true, hoursLeft: 21.5, expires, version: 2, snapshotVersion: 1 });
  });

  it('gives negative hours once it expired: the check worked, the expiry alarm fires', () => {
    const expires = Date.parse(JSON.parse(timestampJson).signed.expires as string);
    const result = evaluateTimestamp({ status: 200, body: timestampJson }, new Date(expires + 2 * HOUR_MS));
    expect(result).toMatchObject({ ok: true, hoursLeft: -2 });
  });

  it.each([
    [{ status: 403, body: '<Error>AccessDenied</Error>' }, 'HTTP 403'],
    [{ status: 200, body: 'not json' }, /^not a TUF timestamp: /],
    [{ status: 200, body: JSON.stringify({ signed: { _type: 'snapshot' }, signatures: [] }) }, /^not a TUF timestamp: /],
    [{ status: 200, body: 'x'.repeat(MAX_TIMESTAMP_BYTES + 1) }, /more than 65536/],
  ])('refuses %j as a failed check', (fetched, reason) => {
    const result = evaluateTimestamp(fetched, signedAt);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.reason).toMatch(reason);
  });
});

describe('metricValues', () => {
  it('reports a success as 0 failures and the hours left', () => {
    expect(metricValues({ ok: true, hoursLeft: 23.2, expires: '', version: 3, snapshotVersion: 2 })).toEqual({ CdnTimestampCheckFailed: 0, CdnTimestampHoursLeft: 23.2 });
  });

  it('reports a failure as 1 and no hours left, which it does not know', () => {
    expect(metricValues({ ok: false, reason: 'HTTP 503' })).toEqual({ CdnTimestampCheckFailed: 1 });
  });
});

describe('nearExpiryThresholdHours', () => {
  it('is the expiry less two refresh periods: 22 h with the defaults (24 h, hourly)', () => {
    expect(nearExpiryThresholdHours({ timestampExpiryHours: 24, timestampRefreshMinutes: 60 })).toBe(22);
    expect(nearExpiryThresholdHours({ timestampExpiryHours: 12, timestampRefreshMinutes: 15 })).toBe(11.5);
  });

  it('leaves one period at the shortest expiry the config allows (three periods)', () => {
    expect(nearExpiryThresholdHours({ timestampExpiryHours: 3, timestampRefreshMinutes: 60 })).toBe(1);
  });

  it('refuses an expiry of two periods or less, which would alarm at once or never', () => {
    expect(() => nearExpiryThresholdHours({ timestampExpiryHours: 2, timestampRefreshMinutes: 60 })).toThrow(/must exceed 2 refresh periods/);
  });
});

describe('timestampUrl', () => {
  it('is /metadata/timestamp.json under the CDN base URL, with or without a trailing slash', () => {
    expect(timestampUrl('https://d111111abcdef8.cloudfront.net')).toBe('https://d111111abcdef8.cloudfront.net/metadata/timestamp.json');
    expect(timestampUrl('https://updates.example.com/')).toBe('https://updates.example.com/metadata/timestamp.json');
  });

  it('refuses a plain-HTTP base URL: CloudFront answers only HTTPS', () => {
    expect(() => timestampUrl('http://updates.example.com')).toThrow(/must be https/);
  });
});

describe('the timestamp check handler', () => {
  let served: { status: number; body: string };
  const requests: Array<{ url?: string; userAgent?: string }> = [];
  const server = createServer((req, res) => {
    requests.push({ url: req.url, userAgent: req.headers['user-agent'] });
    res.writeHead(served.status, { 'content-type': 'application/json' }).end(served.body);
  });
  let origin: string;

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  // The CDN is https in the cloud; here the fetch goes to the local server whatever the URL's origin.
  const handlerWith = (baseUrl: () => Promise<string>, publish = vi.fn(), now = signedAt) =>
    createTimestampCheckHandler({
      baseUrl,
      fetchTimestamp: (url) => fetchTimestamp(url.replace('https://cdn.example.com', origin), { timeoutMs: 5_000, userAgent: 'signet-timestamp-check (test)' }),
      publish,
      logger: createLogger('test', { logLevel: 'SILENT' }),
      now: () => now,
    });

  it('fetches timestamp.json as an agent does (with a User-Agent) and publishes the hours left', async () => {
    served = { status: 200, body: timestampJson };
    const publish = vi.fn();
    const result = await handlerWith(async () => 'https://cdn.example.com', publish)();
    expect(result).toMatchObject({ ok: true, hoursLeft: 24, version: 2 });
    expect(publish).toHaveBeenCalledWith({ CdnTimestampCheckFailed: 0, CdnTimestampHoursLeft: 24 });
    expect(requests.at(-1)).toEqual({ url: '/metadata/timestamp.json', userAgent: 'signet-timestamp-check (test)' });
  });

  it('publishes a failure, and does not throw, when the CDN refuses', async () => {
    served = { status: 403, body: 'AccessDenied' };
    const publish = vi.fn();
    await expect(handlerWith(async () => 'https://cdn.example.com', publish)()).resolves.toEqual({ ok: false, reason: 'HTTP 403' });
    expect(publish).toHaveBeenCalledWith({ CdnTimestampCheckFailed: 1 });
  });

  it('publishes a failure when the CDN identity cannot be read (before the global stack exists)', async () => {
    const publish = vi.fn();
    const result = await handlerWith(() => Promise.reject(new Error('ParameterNotFound')), publish)();
    expect(result).toEqual({ ok: false, reason: 'ParameterNotFound' });
    expect(publish).toHaveBeenCalledWith({ CdnTimestampCheckFailed: 1 });
  });

  it('publishes a failure when the connection fails', async () => {
    const publish = vi.fn();
    const check = createTimestampCheckHandler({
      baseUrl: async () => 'https://cdn.example.com',
      // A port nothing listens on.
      fetchTimestamp: (url) => fetchTimestamp(url.replace('https://cdn.example.com', 'http://127.0.0.1:9'), { timeoutMs: 2_000, userAgent: 'test' }),
      publish,
      logger: createLogger('test', { logLevel: 'SILENT' }),
      now: () => signedAt,
    });
    expect((await check()).ok).toBe(false);
    expect(publish).toHaveBeenCalledWith({ CdnTimestampCheckFailed: 1 });
  });
});

describe('metricsPublisher', () => {
  it('writes one embedded-metric-format line: namespace Signet, dimension service, both values with their units', () => {
    const lines: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      metricsPublisher(new Metrics({ namespace: timestampCheckMetrics.namespace, serviceName: timestampCheckMetrics.service }))({ CdnTimestampCheckFailed: 0, CdnTimestampHoursLeft: 22.5 });
    } finally {
      write.mockRestore();
    }
    const emf = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((record) => '_aws' in record);
    expect(emf).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Namespace: 'Signet', Dimensions: [['service']], Metrics: [{ Name: 'CdnTimestampCheckFailed', Unit: 'Count' }, { Name: 'CdnTimestampHoursLeft', Unit: 'None' }] }] },
      service: 'signet-timestamp-check',
      CdnTimestampCheckFailed: 0,
      CdnTimestampHoursLeft: 22.5,
    });
  });
});

describe('cachedOnSuccess', () => {
  it('loads once after a success, and again after a failure', async () => {
    const load = vi.fn().mockRejectedValueOnce(new Error('not yet')).mockResolvedValue('https://cdn.example.com');
    const cached = cachedOnSuccess(load);
    await expect(cached()).rejects.toThrow('not yet');
    await expect(cached()).resolves.toBe('https://cdn.example.com');
    await expect(cached()).resolves.toBe('https://cdn.example.com');
    expect(load).toHaveBeenCalledTimes(2);
  });
});
