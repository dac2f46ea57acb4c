import { describe, expect, it } from 'vitest';
import { GrantIssuer } from '#lib/delivery/grant.ts';
import type { PolicySigner } from '#lib/delivery/grant.ts';

function countingSigner(): PolicySigner & { calls: string[] } {
  const calls: string[] = [];
  return {
    keyPairId: 'KTEST',
    calls,
    async signPolicy(policy) {
      calls.push(policy);
      await new Promise((r) => setTimeout(r, 5)); // like a KMS call: concurrent callers arrive meanwhile
      return `Policy=${calls.length}&Signature=s&Key-Pair-Id=KTEST`;
    },
  };
}

const options = { baseUrl: 'https://cdn.example.com', lifetimeSeconds: 3600, renewBeforeSeconds: 900 };

describe('download grants', () => {
  it('signs once per product for 10,000 requests in one window, concurrent or not', async () => {
    const signer = countingSigner();
    const issuer = new GrantIssuer(signer, options);
    const now = new Date('2026-11-21T12:00:00Z');
    const concurrent = await Promise.all(Array.from({ length: 5_000 }, () => issuer.grant('demo-av', now)));
    for (let i = 0; i < 5_000; i++) await issuer.grant('demo-av', new Date(now.getTime() + i * 100));
    expect(signer.calls).toHaveLength(1);
    expect(issuer.signatures).toBe(1);
    expect(new Set(concurrent.map((g) => g.query)).size).toBe(1);
  });

  it('signs one policy per product, a wildcard over that product only', async () => {
    const signer = countingSigner();
    const issuer = new GrantIssuer(signer, options);
    const now = new Date('2026-11-21T12:00:00Z');
    await issuer.grant('demo-av', now);
    await issuer.grant('demo-vuln', now);
    await issuer.grant('demo-av', now);
    expect(signer.calls.map((p) => JSON.parse(p).Statement[0].Resource)).toEqual(['https://cdn.example.com/targets/demo-av/*', 'https://cdn.example.com/targets/demo-vuln/*']);
    expect(JSON.parse(signer.calls[0] ?? '{}').Statement[0].Condition).toEqual({ DateLessThan: { 'AWS:EpochTime': Date.parse('2026-11-21T13:00:00Z') / 1000 } });
  });

  it('signs anew only when less than the renewal margin is left', async () => {
    const signer = countingSigner();
    const issuer = new GrantIssuer(signer, options);
    const start = Date.parse('2026-11-21T12:00:00Z');
    const first = await issuer.grant('demo-av', new Date(start));
    expect((await issuer.grant('demo-av', new Date(start + 2_699_000))).query).toBe(first.query); // 15 min + 1 s left
    const renewed = await issuer.grant('demo-av', new Date(start + 2_701_000)); // less than 15 min left
    expect(renewed.query).not.toBe(first.query);
    expect(signer.calls).toHaveLength(2);
    expect(Date.parse(renewed.expiresAt)).toBe(Math.floor((start + 2_701_000) / 1000) * 1000 + 3_600_000);
  });
});
