import { describe, expect, it } from 'vitest';
import { sha256Hex } from '#lib/hash.ts';
import { agentIdOf, digestsEqual, licenseIdOf, licenseKeyHash, newAgentToken, newLicenseKey, parseAgentToken } from '#lib/licensing/secrets.ts';

describe('license keys', () => {
  it('are 160 random bits in readable groups', () => {
    const key = newLicenseKey();
    expect(key).toMatch(/^SIG-([A-Z2-7]{5}-){6}[A-Z2-7]{2}$/);
    expect(newLicenseKey()).not.toBe(key);
  });

  it('hash the same whatever the case, dashes or spaces', () => {
    const key = newLicenseKey();
    expect(licenseKeyHash(key.toLowerCase().replace(/-/g, ' '))).toBe(licenseKeyHash(key));
    expect(licenseIdOf(key)).toBe(licenseKeyHash(key).slice(0, 32));
  });
});

describe('agent tokens', () => {
  const ids = { licenseId: 'a'.repeat(32), machineHash: 'b'.repeat(32), agentId: agentIdOf('a'.repeat(32), 'demo-av', 'm1') };

  it('round-trip through parse, and only the secret hash is kept', () => {
    const { token, secretHash } = newAgentToken(ids.licenseId, ids.machineHash, ids.agentId);
    const parsed = parseAgentToken(token);
    expect(parsed).toMatchObject(ids);
    expect(sha256Hex(parsed?.secret ?? '')).toBe(secretHash);
    expect(token).not.toContain(secretHash);
  });

  it.each(['', 'sgt1', 'sgt2.a.b.c.d', `sgt1.${'A'.repeat(32)}.${'b'.repeat(32)}.${'c'.repeat(32)}.${'d'.repeat(32)}`, `sgt1.${'a'.repeat(32)}.${'b'.repeat(32)}.${'c'.repeat(32)}.short`, 'x'.repeat(500)])(
    'refuses the malformed token %j',
    (token) => {
      expect(parseAgentToken(token)).toBeUndefined();
    },
  );

  it('derives one agent id per license, product and machine', () => {
    expect(agentIdOf('l', 'p', 'm')).toBe(agentIdOf('l', 'p', 'm'));
    expect(agentIdOf('l', 'p', 'm')).not.toBe(agentIdOf('l', 'q', 'm'));
  });
});

describe('digestsEqual', () => {
  it('compares equal-length hex digests, and refuses different lengths or empty ones', () => {
    expect(digestsEqual('ab', 'ab')).toBe(true);
    expect(digestsEqual('ab', 'ac')).toBe(false);
    expect(digestsEqual('ab', 'abcd')).toBe(false);
    expect(digestsEqual('', '')).toBe(false);
  });
});
