/**
 * A download grant opens one product's targets on one host, and nothing else: the
 * hostile probe's `*` + `/targets/demo-av/*` mirror grant opened another product's
 * targets through the query string (`/targets/other-av/x?x=/targets/demo-av/&<grant>`),
 * since CloudFront (and so the verifier) matches a policy's Resource against the whole
 * URL, query included. Grants are real ones here: GrantIssuer with the PEM signer, checked
 * by verifySignedUrl, the code the local origin and the mirror run.
 */
import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCloudFrontBase64 } from '#lib/cdn/cloudfront-base64.ts';
import { generateCdnKeyPair } from '#lib/cdn/key-group.ts';
import { isAnchoredResource } from '#lib/cdn/resource-match.ts';
import type { SignedUrlVerdict } from '#lib/cdn/signed-url.ts';
import { verifySignedUrl } from '#lib/cdn/signed-url.ts';
import { GrantIssuer, pemPolicySigner } from '#lib/delivery/grant.ts';

const NOW = new Date('2030-06-01T12:00:00Z');
const NOW_S = NOW.getTime() / 1000;
const KEY_ID = 'KMIRRORTEST';
const pair = generateCdnKeyPair('ecdsa-p256');
const keyGroup = new Map<string, KeyObject>([[KEY_ID, createPublicKey(pair.publicKeyPem)]]);
const SHA = 'a3f1c2d4e5b6978812345678909abcdefa3f1c2d4e5b6978812345678909abcd';
const MIRROR = 'http://mirror.site.test:8443';

const OK: SignedUrlVerdict = { ok: true };
const refusedWith = (reason: string): SignedUrlVerdict => ({ ok: false, reason });
const check = (url: string): SignedUrlVerdict => verifySignedUrl({ url: new URL(url), keyGroup, now: NOW });

async function grantQuery(baseUrl: string, product = 'demo-av'): Promise<string> {
  const issuer = new GrantIssuer(pemPolicySigner(KEY_ID, pair.privateKeyPem), { baseUrl, lifetimeSeconds: 3600, renewBeforeSeconds: 900 });
  return (await issuer.grant(product, NOW)).query;
}

/** What an older mirror issued (`baseUrl: '*'`), which GrantIssuer now refuses to make. */
function legacyWildcardQuery(resource: string): string {
  const policy = JSON.stringify({ Statement: [{ Resource: resource, Condition: { DateLessThan: { 'AWS:EpochTime': NOW_S + 3600 } } }] });
  const signature = sign('sha256', Buffer.from(policy), createPrivateKey(pair.privateKeyPem));
  return `Policy=${encodeCloudFrontBase64(policy)}&Signature=${encodeCloudFrontBase64(signature)}&Key-Pair-Id=${KEY_ID}&Hash-Algorithm=SHA256`;
}

describe('a grant anchored to scheme, host and path', () => {
  it("opens the product's targets on the host it names, with or without the viewer's own parameters", async () => {
    const query = await grantQuery(MIRROR);
    expect(check(`${MIRROR}/targets/demo-av/${SHA}.main.sigs?${query}`)).toEqual(OK);
    expect(check(`${MIRROR}/targets/demo-av/nested/${SHA}.daily.sigs?${query}`)).toEqual(OK);
    // CloudFront semantics kept: the resource covers the query string, and its `*` covers extra parameters.
    expect(check(`${MIRROR}/targets/demo-av/${SHA}.main.sigs?x=1&${query}`)).toEqual(OK);
  });

  it("does not open another product's targets through the query string (the probe)", async () => {
    const query = await grantQuery(MIRROR);
    for (const url of [
      `${MIRROR}/targets/other-av/${SHA}.main.sigs?x=/targets/demo-av/&${query}`,
      `${MIRROR}/targets/other-av/${SHA}.main.sigs?x=${MIRROR}/targets/demo-av/&${query}`,
      `${MIRROR}/targets/other-av/${SHA}.main.sigs?${query}&x=/targets/demo-av/`,
      `${MIRROR}/targets/other-av/x?${encodeURIComponent(`${MIRROR}/targets/demo-av/`)}&${query}`,
      `${MIRROR}/targets/demo-av?/x&${query}`,
      `${MIRROR}/targets/demo-av2/${SHA}.main.sigs?${query}`,
      `${MIRROR}/targets/${SHA}.main.sigs?/targets/demo-av/&${query}`,
      `${MIRROR}/metadata/timestamp.json?x=/targets/demo-av/&${query}`,
    ]) {
      expect(check(url), url).toEqual(refusedWith('resource mismatch'));
    }
  });

  it('does not reach past the product through dot segments, plain or encoded', async () => {
    const query = await grantQuery(MIRROR);
    // `new URL` resolves these before the match, as the path guard does before the origin's: the path is other-av's.
    for (const path of ['/targets/demo-av/../other-av/x', '/targets/demo-av/%2e%2e/other-av/x', '/targets/demo-av/%2E%2E/other-av/x', '/targets/demo-av/.%2e/other-av/x']) {
      const url = new URL(`${MIRROR}${path}?${query}`);
      expect(url.pathname, path).toBe('/targets/other-av/x');
      expect(check(url.href), path).toEqual(refusedWith('resource mismatch'));
    }
    // An encoded slash, backslash or percent survives `new URL`; a later decoder would climb out: refused.
    for (const path of ['/targets/demo-av/..%2Fother-av/x', '/targets/demo-av/..%2fother-av/x', '/targets/demo-av/..%5Cother-av/x', '/targets/demo-av/%252e%252e/other-av/x', '/targets/demo-av/x%00']) {
      expect(check(`${MIRROR}${path}?${query}`), path).toEqual(refusedWith('non-canonical path'));
    }
  });

  it('opens nothing on another host, port or scheme: the grant names the one it was issued for', async () => {
    const query = await grantQuery(MIRROR);
    for (const base of ['http://attacker.test:8443', 'http://mirror.site.test', 'http://mirror.site.test:8444', 'https://mirror.site.test:8443', 'http://mirror.site.test.attacker.test:8443', 'http://mirror.site.test:8443@attacker.test']) {
      expect(check(`${base}/targets/demo-av/${SHA}.main.sigs?${query}`), base).toEqual(refusedWith('resource mismatch'));
    }
  });

  it("refuses a still-valid grant with a wildcard before the path, as older mirrors issued ('*/targets/demo-av/*')", () => {
    for (const resource of ['*/targets/demo-av/*', '*', 'http://*/targets/demo-av/*', 'http://mirror.site.tes?:8443/targets/demo-av/*', 'http://mirror.site.test:8443*/targets/demo-av/*']) {
      const query = legacyWildcardQuery(resource);
      expect(check(`${MIRROR}/targets/other-av/${SHA}.main.sigs?x=/targets/demo-av/&${query}`), resource).toEqual(refusedWith('unanchored resource'));
      expect(check(`${MIRROR}/targets/demo-av/${SHA}.main.sigs?${query}`), resource).toEqual(refusedWith('unanchored resource'));
    }
    // A wildcard in the scheme is not even a policy CloudFront takes.
    expect(check(`${MIRROR}/targets/demo-av/${SHA}.main.sigs?${legacyWildcardQuery('http*://mirror.site.test:8443/targets/demo-av/*')}`)).toEqual(refusedWith('malformed policy'));
  });

  it('accepts only what the grant names, whatever path and query a viewer makes up (property)', async () => {
    const query = await grantQuery(MIRROR);
    const segment = fc.oneof(
      fc.constantFrom('targets', 'demo-av', 'other-av', 'demo-av2', '..', '.', '%2e%2e', '%2E%2e', '..%2f', '%2F', '%5c', '%25', '', 'x', `${SHA}.main.sigs`),
      fc.stringMatching(/^[A-Za-z0-9._-]{1,8}$/),
    );
    const queryPiece = fc.oneof(
      fc.constantFrom('x=/targets/demo-av/', `x=${MIRROR}/targets/demo-av/`, '/targets/demo-av/', 'x=%2Ftargets%2Fdemo-av%2F', '#', '?', 'a=b'),
      fc.stringMatching(/^[A-Za-z0-9=/._%-]{0,12}$/),
    );
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 6 }), fc.array(queryPiece, { maxLength: 3 }), fc.boolean(), (segments, pieces, grantFirst) => {
        const own = pieces.join('&');
        const q = grantFirst ? `${query}${own ? `&${own}` : ''}` : `${own ? `${own}&` : ''}${query}`;
        let url: URL;
        try {
          url = new URL(`${MIRROR}/${segments.join('/')}?${q}`);
        } catch {
          return;
        }
        if (check(url.href).ok) {
          expect(url.host).toBe('mirror.site.test:8443');
          expect(url.pathname.startsWith('/targets/demo-av/')).toBe(true);
          expect(url.pathname).not.toMatch(/%(2e|2f|5c|25|00)/i);
        }
      }),
      { numRuns: 1500 },
    );
  });
});

describe('GrantIssuer refuses to make an unanchored grant', () => {
  const signer = pemPolicySigner(KEY_ID, pair.privateKeyPem);
  const options = { lifetimeSeconds: 3600, renewBeforeSeconds: 900 };

  it('takes only a literal scheme and host as baseUrl', () => {
    for (const baseUrl of ['*', '', 'https://*.cdn.test', 'http://*', 'http*://cdn.test', 'https://cdn.test?', 'https://cdn.test/', 'https://cdn.test/prefix', 'cdn.test', 'ftp://cdn.test', 'https://user@cdn.test', 'https://cdn.test:443*']) {
      expect(() => new GrantIssuer(signer, { baseUrl, ...options }), baseUrl).toThrow(/baseUrl/);
    }
    for (const baseUrl of ['https://d111111abcdef8.cloudfront.net', 'https://updates.example.com', 'http://127.0.0.1:8080', 'http://[::1]:8443', 'http://mirror_1.site.test']) {
      expect(() => new GrantIssuer(signer, { baseUrl, ...options }), baseUrl).not.toThrow();
    }
  });

  it('signs only product names (no wildcard or separator in the path)', async () => {
    const issuer = new GrantIssuer(signer, { baseUrl: MIRROR, ...options });
    for (const product of ['*', 'demo-av/*', '../x', 'demo?av', 'Demo-AV', '']) {
      await expect(issuer.grant(product, NOW), product).rejects.toThrow(/product/);
    }
    expect(issuer.signatures).toBe(0);
  });

  it('keeps isAnchoredResource to a literal scheme://host/ prefix', () => {
    for (const anchored of ['https://cdn.test/targets/demo-av/*', 'http://127.0.0.1:8080/targets/a/*', 'https://h/*game.zip*']) expect(isAnchoredResource(anchored), anchored).toBe(true);
    for (const loose of ['*', '*/targets/demo-av/*', 'https://*/x', 'https://*.cdn.test/x', 'https://cdn.test?/x', 'https://cdn.test', 'https://cdn.test*', 'http*://cdn.test/x', 'ftp://cdn.test/x', '']) {
      expect(isAnchoredResource(loose), loose).toBe(false);
    }
  });
});
