/**
 * The CloudFront signed-URL verifier, checked against URLs made by AWS's own signers:
 * the AWS SDK's @aws-sdk/cloudfront-signer (RSA and ECDSA, SHA-1 and SHA-256, canned and
 * custom policies) and, where installed, the AWS CLI v1's `aws cloudfront sign`.
 */
import { spawnSync } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getSignedUrl } from '@aws-sdk/cloudfront-signer';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeCloudFrontBase64, encodeCloudFrontBase64 } from '#lib/cdn/cloudfront-base64.ts';
import { generateCdnKeyPair, loadKeyGroup } from '#lib/cdn/key-group.ts';
import { matchesResource } from '#lib/cdn/resource-match.ts';
import type { SignedUrlVerdict } from '#lib/cdn/signed-url.ts';
import { verifySignedUrl } from '#lib/cdn/signed-url.ts';

// A fixed clock: every URL is signed relative to it, so no case depends on the real time.
const NOW = new Date('2030-06-01T12:00:00Z');
const NOW_S = NOW.getTime() / 1000;
const at = (offsetSeconds: number): Date => new Date((NOW_S + offsetSeconds) * 1000);

const HOST = 'https://cdn.signet.test';
const SHA = 'a3f1c2d4e5b6978812345678909abcdefa3f1c2d4e5b6978812345678909abcd';
const fileUrl = (product: string, name: string, host = HOST): string => `${host}/targets/${product}/${SHA}.${name}`;
const TARGET = fileUrl('demo-av', 'main.sigs');

const rsa = generateCdnKeyPair('rsa-2048');
const ecdsa = generateCdnKeyPair('ecdsa-p256');
const keyGroup = new Map<string, KeyObject>([
  ['KRSA2048EXAMPLE', createPublicKey(rsa.publicKeyPem)],
  ['KECDSA256EXAMPLE', createPublicKey(ecdsa.publicKeyPem)],
]);

interface Signer {
  readonly label: string;
  readonly keyPairId: string;
  readonly privateKey: string;
  readonly algorithm: 'SHA1' | 'SHA256';
}
const rsaSha1: Signer = { label: 'RSA-2048 / SHA-1', keyPairId: 'KRSA2048EXAMPLE', privateKey: rsa.privateKeyPem, algorithm: 'SHA1' };
const ecdsaSha256: Signer = { label: 'ECDSA P-256 / SHA-256', keyPairId: 'KECDSA256EXAMPLE', privateKey: ecdsa.privateKeyPem, algorithm: 'SHA256' };
const rsaSha256: Signer = { ...rsaSha1, label: 'RSA-2048 / SHA-256', algorithm: 'SHA256' };
const ecdsaSha1: Signer = { ...ecdsaSha256, label: 'ECDSA P-256 / SHA-1', algorithm: 'SHA1' };
const mainSigners = [rsaSha1, ecdsaSha256];

function check(url: string, opts: { now?: Date; sourceIp?: string; group?: Map<string, KeyObject> } = {}): SignedUrlVerdict {
  return verifySignedUrl({ url: new URL(url), keyGroup: opts.group ?? keyGroup, now: opts.now ?? NOW, sourceIp: opts.sourceIp });
}

const refusedWith = (reason: string): SignedUrlVerdict => ({ ok: false, reason });
const OK: SignedUrlVerdict = { ok: true };

function canned(signer: Signer, url = TARGET, expires = at(3600)): string {
  return getSignedUrl({ url, keyPairId: signer.keyPairId, privateKey: signer.privateKey, dateLessThan: expires, algorithm: signer.algorithm });
}

/** A URL signed over any policy text, for policies the SDK would not build. */
function signedWithPolicy(base: string, policy: string, signer: Signer = rsaSha1): string {
  const hash = signer.algorithm === 'SHA256' ? 'sha256' : 'sha1';
  const signature = sign(hash, Buffer.from(policy), createPrivateKey(signer.privateKey));
  const params = [
    `Policy=${encodeCloudFrontBase64(policy)}`,
    `Signature=${encodeCloudFrontBase64(signature)}`,
    `Key-Pair-Id=${signer.keyPairId}`,
    ...(signer.algorithm === 'SHA256' ? ['Hash-Algorithm=SHA256'] : []),
  ];
  return `${base}${base.includes('?') ? '&' : '?'}${params.join('&')}`;
}

const policyJson = (resource: string | undefined, condition: Record<string, unknown>): string =>
  JSON.stringify({ Statement: [{ ...(resource === undefined ? {} : { Resource: resource }), Condition: condition }] });

// Query manipulation on the raw string: URLSearchParams would re-encode every value.
function splitUrl(url: string): { base: string; pieces: string[] } {
  const q = url.indexOf('?');
  return q < 0 ? { base: url, pieces: [] } : { base: url.slice(0, q), pieces: url.slice(q + 1).split('&') };
}
function joinUrl(base: string, pieces: string[]): string {
  return pieces.length > 0 ? `${base}?${pieces.join('&')}` : base;
}
function mapParam(url: string, name: string, f: (value: string) => string): string {
  const { base, pieces } = splitUrl(url);
  return joinUrl(base, pieces.map((p) => (p.startsWith(`${name}=`) ? `${name}=${f(p.slice(name.length + 1))}` : p)));
}
function withoutParam(url: string, name: string): string {
  const { base, pieces } = splitUrl(url);
  return joinUrl(base, pieces.filter((p) => !p.startsWith(`${name}=`)));
}
function paramOf(url: string, name: string): string {
  const piece = splitUrl(url).pieces.find((p) => p.startsWith(`${name}=`));
  if (piece === undefined) throw new Error(`no ${name} in ${url}`);
  return piece.slice(name.length + 1);
}
/** The query a signer added, to append to other files' URLs (one wildcard policy, many files). */
function signingQuery(url: string): string {
  return splitUrl(url).pieces.join('&');
}
function flipOneByte(cloudFrontBase64: string): string {
  const bytes = decodeCloudFrontBase64(cloudFrontBase64);
  if (bytes === undefined) throw new Error('test signature does not decode');
  const i = Math.floor(bytes.length / 2);
  bytes[i] = (bytes[i] ?? 0) ^ 0x01;
  return encodeCloudFrontBase64(bytes);
}

describe('verifySignedUrl: URLs from the AWS SDK signer', () => {
  describe.each(mainSigners)('$label', (signer) => {
    it('accepts a canned-policy URL before its Expires', () => {
      expect(check(canned(signer))).toEqual(OK);
    });

    it('accepts a custom-policy URL with a start time and an IPv4 range, from inside the range', () => {
      const url = getSignedUrl({
        url: TARGET,
        keyPairId: signer.keyPairId,
        privateKey: signer.privateKey,
        dateLessThan: at(3600),
        dateGreaterThan: at(-60),
        ipAddress: '203.0.113.0/24',
        algorithm: signer.algorithm,
      });
      expect(url).toContain('Policy=');
      expect(check(url, { sourceIp: '203.0.113.77' })).toEqual(OK);
    });

    it('refuses a canned URL whose signature has one byte changed', () => {
      expect(check(mapParam(canned(signer), 'Signature', flipOneByte))).toEqual(refusedWith('bad signature'));
    });

    it('refuses a custom-policy URL whose signature has one byte changed', () => {
      const url = signedWithPolicy(TARGET, policyJson(TARGET, { DateLessThan: { 'AWS:EpochTime': NOW_S + 60 } }), signer);
      expect(check(url)).toEqual(OK);
      expect(check(mapParam(url, 'Signature', flipOneByte))).toEqual(refusedWith('bad signature'));
    });

    it('refuses a canned URL moved to another path, product, host or scheme (the signature covers the URL)', () => {
      const { pieces } = splitUrl(canned(signer));
      const moved = [
        fileUrl('demo-av', 'other.sigs'),
        fileUrl('other-product', 'main.sigs'),
        fileUrl('demo-av', 'main.sigs', 'https://evil.example'),
        TARGET.replace('https://', 'http://'),
      ];
      for (const url of moved) expect(check(joinUrl(url, pieces)), url).toEqual(refusedWith('bad signature'));
    });

    it('refuses a canned URL at and after its Expires second', () => {
      const url = canned(signer, TARGET, at(60));
      expect(check(url, { now: at(59) })).toEqual(OK);
      expect(check(url, { now: at(60) })).toEqual(refusedWith('expired'));
      expect(check(url, { now: at(86_400) })).toEqual(refusedWith('expired'));
    });

    it('refuses a custom-policy URL before its DateGreaterThan and after its DateLessThan', () => {
      const url = getSignedUrl({
        url: TARGET,
        keyPairId: signer.keyPairId,
        privateKey: signer.privateKey,
        dateGreaterThan: at(600),
        dateLessThan: at(3600),
        algorithm: signer.algorithm,
      });
      expect(check(url)).toEqual(refusedWith('not yet valid'));
      expect(check(url, { now: at(601) })).toEqual(OK);
      expect(check(url, { now: at(3600) })).toEqual(refusedWith('expired'));
    });
  });

  it('accepts the other two key/hash pairings: RSA-2048 with SHA-256 and ECDSA P-256 with SHA-1', () => {
    const rsa256 = canned(rsaSha256);
    const ec1 = canned(ecdsaSha1);
    expect(rsa256).toContain('Hash-Algorithm=SHA256');
    expect(ec1).not.toContain('Hash-Algorithm');
    expect(check(rsa256)).toEqual(OK);
    expect(check(ec1)).toEqual(OK);
  });

  it('refuses a SHA-256 signature once Hash-Algorithm is stripped, and a SHA-1 one once it is added', () => {
    expect(check(withoutParam(canned(ecdsaSha256), 'Hash-Algorithm'))).toEqual(refusedWith('bad signature'));
    expect(check(`${canned(rsaSha1)}&Hash-Algorithm=SHA256`)).toEqual(refusedWith('bad signature'));
  });

  it('refuses Hash-Algorithm values other than the exact SHA256', () => {
    for (const value of ['sha256', 'SHA1', 'SHA-256', 'MD5', 'SHA512', '']) {
      const url = mapParam(canned(ecdsaSha256), 'Hash-Algorithm', () => value);
      expect(check(url), value).toEqual(refusedWith('unsupported hash algorithm'));
    }
  });

  it('refuses a Key-Pair-Id that is not in the key group', () => {
    expect(check(mapParam(canned(rsaSha1), 'Key-Pair-Id', () => 'KUNKNOWN'))).toEqual(refusedWith('unknown key id'));
    expect(check(mapParam(canned(rsaSha1), 'Key-Pair-Id', () => 'K'.repeat(5000)))).toEqual(refusedWith('unknown key id'));
  });

  it("refuses a URL signed by one key but naming the other key's id", () => {
    expect(check(mapParam(canned(rsaSha256), 'Key-Pair-Id', () => ecdsaSha256.keyPairId))).toEqual(refusedWith('bad signature'));
    expect(check(mapParam(canned(ecdsaSha1), 'Key-Pair-Id', () => rsaSha1.keyPairId))).toEqual(refusedWith('bad signature'));
  });

  it('refuses a key group entry CloudFront would not accept (RSA-1024, Ed25519, a private key)', () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const ed = generateKeyPairSync('ed25519');
    const cases: Array<[string, KeyObject]> = [
      ['rsa-1024', weak.publicKey],
      ['ed25519', ed.publicKey],
      ['private', createPrivateKey(rsa.privateKeyPem)],
    ];
    for (const [label, key] of cases) {
      const group = new Map([[rsaSha1.keyPairId, key]]);
      expect(check(canned(rsaSha1), { group }), label).toEqual(refusedWith('unsupported key type'));
    }
  });
});

describe('verifySignedUrl: wildcard resources and query parameters', () => {
  it.each(mainSigners)('accepts one wildcard policy appended to several files of the product ($label)', (signer) => {
    const policy = policyJson(`${HOST}/targets/demo-av/*`, { DateLessThan: { 'AWS:EpochTime': NOW_S + 3600 } });
    const signed = getSignedUrl({ url: TARGET, policy, keyPairId: signer.keyPairId, privateKey: signer.privateKey, algorithm: signer.algorithm });
    const query = signingQuery(signed);
    for (const name of ['main.sigs', 'daily.sigs', 'bytecode.cvd', 'nested/dir/file.bin']) {
      expect(check(`${fileUrl('demo-av', name)}?${query}`), name).toEqual(OK);
    }
    expect(check(`${fileUrl('other-product', 'main.sigs')}?${query}`)).toEqual(refusedWith('resource mismatch'));
    expect(check(`${fileUrl('demo-av', 'main.sigs', 'https://evil.example')}?${query}`)).toEqual(refusedWith('resource mismatch'));
    expect(check(`${HOST}/metadata/timestamp.json?${query}`)).toEqual(refusedWith('resource mismatch'));
  });

  it('matches `?` as exactly one character and `*` anywhere in the path, as CloudFront does', () => {
    const policy = policyJson(`${HOST}/targets/demo-av/*.v?.sigs`, {
      DateLessThan: { 'AWS:EpochTime': NOW_S + 3600 },
    });
    const query = signingQuery(signedWithPolicy(TARGET, policy));
    expect(check(`${fileUrl('demo-av', 'v1.sigs')}?${query}`)).toEqual(OK);
    expect(check(`${fileUrl('demo-av', 'v2.sigs')}?${query}`)).toEqual(OK);
    expect(check(`${fileUrl('demo-av', 'v10.sigs')}?${query}`)).toEqual(refusedWith('resource mismatch'));
    expect(check(`${fileUrl('demo-av', 'v.sigs')}?${query}`)).toEqual(refusedWith('resource mismatch'));
  });

  it("keeps the viewer's own parameters in the resource, wherever they sit relative to the signing ones", () => {
    const url = canned(rsaSha1, `${TARGET}?license=yes&v=3`);
    expect(url.indexOf('license=yes')).toBeLessThan(url.indexOf('Expires='));
    expect(check(url)).toEqual(OK);
    // The guide allows your own parameters after Key-Pair-Id as well.
    const { base, pieces } = splitUrl(url);
    expect(check(joinUrl(base, [...pieces.slice(2), ...pieces.slice(0, 2)]))).toEqual(OK);
    // Their order is part of the signed URL.
    expect(check(joinUrl(base, [pieces[1] ?? '', pieces[0] ?? '', ...pieces.slice(2)]))).toEqual(refusedWith('bad signature'));
  });

  it('refuses a canned URL with an unsigned extra parameter, but a wildcard policy lets the `*` cover it', () => {
    expect(check(`${canned(rsaSha1)}&extra=1`)).toEqual(refusedWith('bad signature'));
    const policy = policyJson(`${HOST}/targets/demo-av/*`, { DateLessThan: { 'AWS:EpochTime': NOW_S + 3600 } });
    const query = signingQuery(signedWithPolicy(TARGET, policy));
    expect(check(`${TARGET}?${query}&extra=1`)).toEqual(OK);
    expect(check(`${TARGET}?extra=1&${query}`)).toEqual(OK);
  });

  it('refuses an exact custom-policy resource when a parameter is added', () => {
    const url = signedWithPolicy(TARGET, policyJson(TARGET, { DateLessThan: { 'AWS:EpochTime': NOW_S + 60 } }));
    expect(check(url)).toEqual(OK);
    expect(check(`${url}&extra=1`)).toEqual(refusedWith('resource mismatch'));
  });

  it('refuses a policy without Resource, which the guide says grants every URL (stricter than CloudFront: no Signet signer makes one)', () => {
    const query = signingQuery(signedWithPolicy(TARGET, policyJson(undefined, { DateLessThan: { 'AWS:EpochTime': NOW_S + 60 } })));
    expect(check(`${fileUrl('another', 'file')}?${query}`)).toEqual(refusedWith('unanchored resource'));
    expect(check(`${TARGET}?${query}`)).toEqual(refusedWith('unanchored resource'));
  });

  it('accepts a Signature whose `~` a client percent-encoded as %7E', () => {
    let url = canned(rsaSha1);
    for (let i = 0; !paramOf(url, 'Signature').includes('~') && i < 50; i++) url = canned(rsaSha1, TARGET, at(3600 + i));
    expect(paramOf(url, 'Signature')).toContain('~');
    expect(check(mapParam(url, 'Signature', (s) => s.replaceAll('~', '%7E')))).toEqual(OK);
  });
});

describe('verifySignedUrl: source IP condition', () => {
  const ipv4 = getSignedUrl({
    url: TARGET,
    keyPairId: rsaSha1.keyPairId,
    privateKey: rsaSha1.privateKey,
    dateLessThan: at(3600),
    ipAddress: '198.51.100.0/24',
  });

  it('accepts a viewer inside the IPv4 block, also when reported IPv4-mapped by a dual-stack server', () => {
    expect(check(ipv4, { sourceIp: '198.51.100.1' })).toEqual(OK);
    expect(check(ipv4, { sourceIp: '::ffff:198.51.100.254' })).toEqual(OK);
  });

  it('refuses a viewer outside the block, an IPv6 viewer, a garbage address and a missing one', () => {
    for (const sourceIp of ['198.51.101.1', '10.0.0.1', '2001:db8::1', 'not-an-ip', '']) {
      expect(check(ipv4, { sourceIp }), sourceIp).toEqual(refusedWith('source ip not allowed'));
    }
    expect(check(ipv4)).toEqual(refusedWith('source ip not allowed'));
  });

  it('matches an IPv6 block against IPv6 viewers only', () => {
    const url = signedWithPolicy(TARGET, policyJson(TARGET, {
      DateLessThan: { 'AWS:EpochTime': NOW_S + 60 },
      IpAddress: { 'AWS:SourceIp': '2001:db8:1234::/48' },
    }), ecdsaSha256);
    expect(check(url, { sourceIp: '2001:db8:1234:5::9' })).toEqual(OK);
    expect(check(url, { sourceIp: '2001:db8:1235::1' })).toEqual(refusedWith('source ip not allowed'));
    expect(check(url, { sourceIp: '192.0.2.1' })).toEqual(refusedWith('source ip not allowed'));
  });
});

describe('verifySignedUrl: malformed and incomplete URLs', () => {
  const good = canned(rsaSha1);

  it('refuses a URL without the signing parameters, naming the first one missing', () => {
    expect(check(TARGET)).toEqual(refusedWith('missing signature'));
    expect(check(withoutParam(good, 'Signature'))).toEqual(refusedWith('missing signature'));
    expect(check(withoutParam(good, 'Key-Pair-Id'))).toEqual(refusedWith('missing key id'));
    expect(check(withoutParam(good, 'Expires'))).toEqual(refusedWith('missing policy'));
    expect(check(mapParam(good, 'Key-Pair-Id', () => ''))).toEqual(refusedWith('missing key id'));
  });

  it('refuses a signing parameter given twice, even with the same value', () => {
    for (const name of ['Expires', 'Signature', 'Key-Pair-Id']) {
      expect(check(`${good}&${name}=${paramOf(good, name)}`), name).toEqual(refusedWith('duplicate parameter'));
    }
    expect(check(`${canned(ecdsaSha256)}&Hash-Algorithm=SHA256`)).toEqual(refusedWith('duplicate parameter'));
  });

  it('refuses a URL carrying both Expires and Policy', () => {
    const custom = signedWithPolicy(TARGET, policyJson(TARGET, { DateLessThan: { 'AWS:EpochTime': NOW_S + 60 } }));
    expect(check(`${custom}&Expires=${NOW_S + 60}`)).toEqual(refusedWith('ambiguous policy'));
  });

  it('refuses an Expires that is not a plain decimal integer', () => {
    const expires = paramOf(good, 'Expires');
    for (const value of ['soon', '', '-1', '1.5', '1e10', ` ${expires}`, `0${expires}`, '9'.repeat(13), '0x10']) {
      expect(check(mapParam(good, 'Expires', () => encodeURIComponent(value))), value).toEqual(refusedWith('malformed expires'));
    }
  });

  it('refuses a Signature that is not canonical CloudFront base64', () => {
    const signature = paramOf(good, 'Signature');
    const variants = [
      'not*base64!',
      signature.replaceAll('-', '+').replaceAll('~', '/').replaceAll('_', '='), // standard alphabet
      `${signature}_`, // excess padding
      `_${signature}`,
      'A',
      '',
      '%ZZ',
    ];
    for (const value of variants) {
      expect(check(mapParam(good, 'Signature', () => value)), value).toEqual(refusedWith('malformed signature'));
    }
    // The padding is part of the canonical form every AWS signer writes.
    expect(check(mapParam(good, 'Signature', (s) => s.replace(/_+$/, '')))).toEqual(refusedWith('malformed signature'));
    // DER ECDSA signatures are 70-72 bytes; take one whose last character has unused bits
    // and set one of them: Node would decode it to the same bytes.
    let ec = canned(ecdsaSha1);
    for (let i = 0; !paramOf(ec, 'Signature').endsWith('_') && i < 50; i++) ec = canned(ecdsaSha1, TARGET, at(3600 + i));
    const ecSig = paramOf(ec, 'Signature');
    const unpadded = ecSig.replace(/_+$/, '');
    expect(unpadded.length).toBeLessThan(ecSig.length);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-~';
    const sibling = alphabet[alphabet.indexOf(unpadded.at(-1) ?? 'A') ^ 1] ?? 'A';
    const nonCanonical = `${unpadded.slice(0, -1)}${sibling}${ecSig.slice(unpadded.length)}`;
    expect(decodeCloudFrontBase64(ecSig)).toBeDefined();
    expect(Buffer.from(nonCanonical.replaceAll('-', '+').replaceAll('~', '/').replaceAll('_', '='), 'base64')).toEqual(decodeCloudFrontBase64(ecSig));
    expect(check(mapParam(ec, 'Signature', () => nonCanonical))).toEqual(refusedWith('malformed signature'));
  });

  it('refuses a Policy that is not base64, not JSON, or not UTF-8, signed or not', () => {
    const signedGarbage = (text: string | Buffer): string => {
      const signature = sign('sha1', Buffer.from(text), createPrivateKey(rsa.privateKeyPem));
      return `${TARGET}?Policy=${encodeCloudFrontBase64(text)}&Signature=${encodeCloudFrontBase64(signature)}&Key-Pair-Id=${rsaSha1.keyPairId}`;
    };
    expect(check(signedGarbage('{"Statement":[{"Resource":'))).toEqual(refusedWith('malformed policy'));
    expect(check(signedGarbage('not json at all'))).toEqual(refusedWith('malformed policy'));
    expect(check(signedGarbage(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])))).toEqual(refusedWith('malformed policy'));
    const custom = signedWithPolicy(TARGET, policyJson(TARGET, { DateLessThan: { 'AWS:EpochTime': NOW_S + 60 } }));
    expect(check(mapParam(custom, 'Policy', () => 'e30*'))).toEqual(refusedWith('malformed policy'));
    expect(check(mapParam(custom, 'Policy', () => encodeCloudFrontBase64('[1,2,3]')))).toEqual(refusedWith('malformed policy'));
    expect(check(mapParam(custom, 'Policy', () => ''))).toEqual(refusedWith('malformed policy'));
  });

  it('refuses, even when signed, a policy that strays from the documented shape', () => {
    const until = { 'AWS:EpochTime': NOW_S + 60 };
    const policies: Record<string, unknown> = {
      'two statements': { Statement: [{ Resource: TARGET, Condition: { DateLessThan: until } }, { Resource: '*', Condition: { DateLessThan: until } }] },
      'no statement': { Statement: [] },
      'statement not a list': { Statement: { Resource: TARGET, Condition: { DateLessThan: until } } },
      'no DateLessThan': { Statement: [{ Resource: TARGET, Condition: { DateGreaterThan: { 'AWS:EpochTime': 1 } } }] },
      'no Condition': { Statement: [{ Resource: TARGET }] },
      'quoted epoch time': { Statement: [{ Resource: TARGET, Condition: { DateLessThan: { 'AWS:EpochTime': String(NOW_S + 60) } } }] },
      'fractional epoch time': { Statement: [{ Resource: TARGET, Condition: { DateLessThan: { 'AWS:EpochTime': NOW_S + 0.5 } } }] },
      'unknown condition': { Statement: [{ Resource: TARGET, Condition: { DateLessThan: until, DateEquals: until } }] },
      'unknown statement key': { Statement: [{ Resource: TARGET, Effect: 'Allow', Condition: { DateLessThan: until } }] },
      'resource list': { Statement: [{ Resource: [TARGET], Condition: { DateLessThan: until } }] },
      'resource without scheme': { Statement: [{ Resource: 'cdn.signet.test/*', Condition: { DateLessThan: until } }] },
      'bare IP address': { Statement: [{ Resource: TARGET, Condition: { DateLessThan: until, IpAddress: { 'AWS:SourceIp': '192.0.2.1' } } }] },
      'IP prefix too long': { Statement: [{ Resource: TARGET, Condition: { DateLessThan: until, IpAddress: { 'AWS:SourceIp': '192.0.2.0/33' } } }] },
      'IP list': { Statement: [{ Resource: TARGET, Condition: { DateLessThan: until, IpAddress: { 'AWS:SourceIp': ['192.0.2.0/24'] } } }] },
    };
    for (const [label, policy] of Object.entries(policies)) {
      expect(check(signedWithPolicy(TARGET, JSON.stringify(policy)), { sourceIp: '192.0.2.1' }), label).toEqual(refusedWith('malformed policy'));
    }
  });

  it('refuses a URL longer than CloudFront allows without parsing it', () => {
    expect(check(`${good}&pad=${'x'.repeat(9000)}`)).toEqual(refusedWith('url too long'));
  });

  it('refuses a clock that is not a valid date', () => {
    expect(check(good, { now: new Date(Number.NaN) })).toEqual(refusedWith('invalid clock'));
  });
});

describe('verifySignedUrl: URLs from the AWS CLI v1 (`aws cloudfront sign`, RSA / SHA-1)', () => {
  const cli = spawnSync('aws', ['--version'], { encoding: 'utf8' });
  const hasAws = cli.error === undefined && cli.status === 0;
  const suffix = hasAws ? '' : ' [skipped: `aws` is not on PATH]';
  if (!hasAws) console.warn('signed-url.test: the AWS CLI is not installed; its interoperability cases are skipped');

  const dir = mkdtempSync(join(tmpdir(), 'signet-cdn-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'rsa.pem');
  writeFileSync(keyFile, rsa.privateKeyPem, { mode: 0o600 });

  function awsSign(url: string, extra: string[] = []): string {
    const result = spawnSync(
      'aws',
      ['cloudfront', 'sign', '--url', url, '--key-pair-id', rsaSha1.keyPairId, '--private-key', `file://${keyFile}`, '--date-less-than', String(NOW_S + 3600), ...extra],
      { encoding: 'utf8', env: { ...process.env, AWS_DEFAULT_REGION: 'us-east-1', AWS_PAGER: '' } },
    );
    if (result.status !== 0) throw new Error(`aws cloudfront sign failed: ${result.stderr}`);
    return result.stdout.trim();
  }

  it.runIf(hasAws)(`accepts a canned-policy URL, with and without the viewer's own parameters${suffix}`, () => {
    const plain = awsSign(TARGET);
    expect(plain).toContain('Expires=');
    expect(check(plain)).toEqual(OK);
    expect(check(awsSign(`${TARGET}?license=yes`))).toEqual(OK);
  });

  it.runIf(hasAws)(`accepts a custom-policy URL and enforces its start time and IP range${suffix}`, () => {
    const url = awsSign(TARGET, ['--date-greater-than', String(NOW_S - 60), '--ip-address', '192.0.2.0/24']);
    expect(url).toContain('Policy=');
    expect(check(url, { sourceIp: '192.0.2.9' })).toEqual(OK);
    expect(check(url, { sourceIp: '192.0.3.9' })).toEqual(refusedWith('source ip not allowed'));
    expect(check(url, { sourceIp: '192.0.2.9', now: at(-120) })).toEqual(refusedWith('not yet valid'));
  });

  it.runIf(hasAws)(`refuses a CLI-signed URL that was tampered with or moved${suffix}`, () => {
    const url = awsSign(TARGET);
    expect(check(mapParam(url, 'Signature', flipOneByte))).toEqual(refusedWith('bad signature'));
    expect(check(joinUrl(fileUrl('other-product', 'main.sigs'), splitUrl(url).pieces))).toEqual(refusedWith('bad signature'));
  });
});

describe('verifySignedUrl: hostile input (property-based)', () => {
  const knownIds = [...keyGroup.keys()];
  const realSignatures = [paramOf(canned(rsaSha1), 'Signature'), paramOf(canned(ecdsaSha256), 'Signature')];
  const nameArb = fc.oneof(
    fc.constantFrom('Expires', 'Policy', 'Signature', 'Key-Pair-Id', 'Hash-Algorithm', 'expires', 'v'),
    fc.string({ maxLength: 12 }),
  );
  const valueArb = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constantFrom(...knownIds, ...realSignatures, 'SHA256', 'SHA1', '_', '~~', '%', '%7E', '%ff'),
    fc.nat().map(String),
    fc.uint8Array({ maxLength: 300 }).map((b) => encodeCloudFrontBase64(b)),
    fc.jsonValue().map((j) => encodeCloudFrontBase64(JSON.stringify(j) ?? 'null')),
  );
  const pieceArb = fc.oneof(
    fc.tuple(nameArb, valueArb).map(([n, v]) => `${n}=${v}`),
    nameArb,
    fc.constant(''),
  );

  it('never throws and never verifies a random query string', () => {
    // Another path than any signed URL above, so even real values cannot line up.
    const base = fileUrl('demo-av', 'random.sigs');
    fc.assert(
      fc.property(fc.array(pieceArb, { maxLength: 12 }), fc.option(fc.string({ maxLength: 20 })), (pieces, ip) => {
        let url: URL;
        try {
          url = new URL(`${base}?${pieces.join('&')}`);
        } catch {
          return;
        }
        const verdict = verifySignedUrl({ url, keyGroup, now: NOW, sourceIp: ip ?? undefined });
        expect(verdict.ok).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on any validly signed JSON policy, and never grants one that lacks the documented shape', () => {
    const ecKey = createPrivateKey(ecdsa.privateKeyPem);
    fc.assert(
      fc.property(fc.jsonValue(), (json) => {
        const policy = JSON.stringify(json) ?? 'null';
        const signature = sign('sha1', Buffer.from(policy), ecKey);
        const url = new URL(`${TARGET}?Policy=${encodeCloudFrontBase64(policy)}&Signature=${encodeCloudFrontBase64(signature)}&Key-Pair-Id=${ecdsaSha1.keyPairId}`);
        expect(verifySignedUrl({ url, keyGroup, now: NOW, sourceIp: '192.0.2.1' })).toEqual(refusedWith('malformed policy'));
      }),
      { numRuns: 300 },
    );
  });

  it('never throws and never verifies a valid URL with one character of its query replaced, deleted or inserted', () => {
    const valid = [
      canned(rsaSha1, `${TARGET}?v=3`),
      canned(ecdsaSha256),
      signedWithPolicy(TARGET, policyJson(TARGET, { DateLessThan: { 'AWS:EpochTime': NOW_S + 60 }, IpAddress: { 'AWS:SourceIp': '192.0.2.0/24' } }), ecdsaSha256),
    ];
    for (const url of valid) expect(check(url, { sourceIp: '192.0.2.1' })).toEqual(OK);
    // `&` is never inserted: an empty `&&` piece carries nothing, so that URL is the same URL.
    const charArb = fc.constantFrom(...'AZaz09-_~=&%+/.#?! x'.split(''), '\u00e9', '\u0000');
    fc.assert(
      fc.property(
        fc.constantFrom(...valid),
        fc.nat(),
        fc.constantFrom('replace', 'delete', 'insert'),
        charArb,
        (url, position, kind, char) => {
          const q = url.indexOf('?') + 1;
          const i = q + (position % (url.length - q));
          const original = url[i];
          if (kind === 'replace' && original === char) return;
          if (kind === 'insert' && char === '&') return;
          const mutated =
            kind === 'replace' ? url.slice(0, i) + char + url.slice(i + 1)
            : kind === 'delete' ? url.slice(0, i) + url.slice(i + 1)
            : url.slice(0, i) + char + url.slice(i);
          let parsed: URL;
          try {
            parsed = new URL(mutated);
          } catch {
            return;
          }
          const verdict = verifySignedUrl({ url: parsed, keyGroup, now: NOW, sourceIp: '192.0.2.1' });
          expect(verdict.ok, mutated).toBe(false);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('matchesResource', () => {
  it('treats `*` as any run and `?` as one character, everything else literally', () => {
    expect(matchesResource('https://h/*game_download.zip*', 'https://h/example_game_download.zip?license=yes')).toBe(true);
    expect(matchesResource('https://h/*game_download.zip*', 'https://h/game_download.zip')).toBe(true);
    expect(matchesResource('https://h/a?c', 'https://h/abc')).toBe(true);
    expect(matchesResource('https://h/a?c', 'https://h/ac')).toBe(false);
    expect(matchesResource('https://h/a.c', 'https://h/abc')).toBe(false);
    expect(matchesResource('https://h/A', 'https://h/a')).toBe(false);
    expect(matchesResource('*', '')).toBe(true);
    expect(matchesResource('', 'x')).toBe(false);
    expect(matchesResource('**a**b', 'xxaxxbxxb')).toBe(true);
  });
});

describe('loadKeyGroup and generateCdnKeyPair', () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-cdn-keys-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('generates SPKI public keys, a PKCS #1 RSA private key (AWS CLI v1) and a PKCS #8 ECDSA one', () => {
    expect(rsa.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(rsa.privateKeyPem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    expect(ecdsa.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(ecdsa.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(createPublicKey(ecdsa.publicKeyPem).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(createPublicKey(rsa.publicKeyPem).asymmetricKeyDetails?.modulusLength).toBe(2048);
  });

  it('loads every *.pub.pem as a key named after the file, ignores other files, and verifies with them', async () => {
    const group = join(dir, 'good');
    mkdirSync(group);
    writeFileSync(join(group, 'KRSA2048EXAMPLE.pub.pem'), rsa.publicKeyPem);
    writeFileSync(join(group, 'KECDSA256EXAMPLE.pub.pem'), ecdsa.publicKeyPem);
    writeFileSync(join(group, 'KRSA2048EXAMPLE.pem'), rsa.privateKeyPem);
    writeFileSync(join(group, 'README.txt'), 'not a key');
    mkdirSync(join(group, 'nested.pub.pem'));
    symlinkSync(join(group, 'KECDSA256EXAMPLE.pub.pem'), join(group, 'KLINKED.pub.pem'));
    const loaded = await loadKeyGroup(group);
    expect([...loaded.keys()]).toEqual(['KECDSA256EXAMPLE', 'KLINKED', 'KRSA2048EXAMPLE']);
    expect(check(canned(rsaSha1), { group: loaded })).toEqual(OK);
    expect(check(canned(ecdsaSha256), { group: loaded })).toEqual(OK);
  });

  it('fails naming the file when a key is unreadable or of a type CloudFront does not accept', async () => {
    const bad = join(dir, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'KWEAK.pub.pem'), generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }));
    await expect(loadKeyGroup(bad)).rejects.toThrow(/KWEAK\.pub\.pem is neither RSA 2048 nor ECDSA P-256/);
    const garbled = join(dir, 'garbled');
    mkdirSync(garbled);
    writeFileSync(join(garbled, 'KJUNK.pub.pem'), 'junk');
    await expect(loadKeyGroup(garbled)).rejects.toThrow(/KJUNK\.pub\.pem is not a readable PEM public key/);
  });
});
