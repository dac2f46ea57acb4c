import { describe, expect, it } from 'vitest';
import { maxKeyLength, maxSegmentLength } from '#lib/definitions/bucket.ts';
import { FILE_NAME } from '#lib/releases/set-manifest.ts';
import { guardObjectPath, viewerRequestLimits, viewerRequestSource } from '#lib/cdn/viewer-request.ts';
import { pathTable } from '#test/support/hostile-paths.ts';


describe('the viewer-request path guard (the CloudFront Function, run as it runs at the edge)', () => {
  it.each(pathTable.map(([path, expected, canonical]) => ({ path, expected, canonical })))('$path → $expected', ({ path, expected, canonical }) => {
    const verdict = guardObjectPath(path);
    if (expected === 'pass') {
      expect(verdict).toEqual({ ok: true, path: canonical ?? path });
    } else {
      expect(verdict.ok).toBe(false);
      if (verdict.ok) return;
      expect(verdict.response.statusCode).toBe(expected);
      const body = JSON.parse(verdict.response.body?.data ?? '') as { error: { code: string; message: string } };
      expect(body.error.code).toBe(expected === 400 ? 'INVALID_REQUEST' : 'NOT_FOUND');
      expect(verdict.response.headers?.['content-type']).toEqual({ value: 'application/json' });
    }
  });

  it('enforces the limits the bucket layout names, and every stored name fits them', () => {
    expect(viewerRequestLimits).toEqual({ maxKeyLength, maxSegmentLength });
    const longestFileName = Number(/\{1,(\d+)\}/.exec(FILE_NAME.source)?.[1]);
    expect(64 + 1 + longestFileName).toBeLessThanOrEqual(maxSegmentLength);
  });

  it('is a plain script with a top-level handler, as CloudFront Functions take it (no imports, no exports)', () => {
    expect(viewerRequestSource).toMatch(/^function handler\(event\) \{$/m);
    expect(viewerRequestSource).not.toMatch(/^\s*(import|export)\s/m);
    expect(Buffer.byteLength(viewerRequestSource)).toBeLessThan(10 * 1024); // CloudFront's limit on function code
  });

  it('uses no Node globals (CloudFront has none; locally it runs in a context without them)', () => {
    expect(viewerRequestSource).not.toMatch(/\b(require|process|Buffer|globalThis)\b/);
  });
});
