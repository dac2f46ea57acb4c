import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareVersions, isVersion, versionSortKey } from '#lib/releases/versions.ts';

const part = fc.integer({ min: 0, max: 9_999_999_999 });
const version = fc.array(part, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('.'));
const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);
const stringCompare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

describe('isVersion', () => {
  it.each(['1', '1.2', '1.2.3', '2026.11.21.1', '0.0.0', '9999999999.0'])('accepts %s', (v) => expect(isVersion(v)).toBe(true));
  it.each(['', '1.2.3.4.5', '01.2', '1..2', '1.2.', 'v1.2', '1.2-beta', '99999999999', ' 1.2', '-1'])('refuses "%s"', (v) => expect(isVersion(v)).toBe(false));
});

describe('compareVersions', () => {
  it('compares number by number, not as text', () => {
    expect(compareVersions('1.10.0', '1.9.0')).toBe(1);
    expect(compareVersions('1.9.0', '1.10.0')).toBe(-1);
    expect(compareVersions('2', '10')).toBe(-1);
    expect(compareVersions('2026.11.21.2', '2026.11.21.1')).toBe(1);
  });

  it('treats missing parts as zero', () => {
    expect(compareVersions('1.2', '1.2.0')).toBe(0);
    expect(compareVersions('1.2', '1.2.0.1')).toBe(-1);
    expect(compareVersions('1.2.0.0', '1.2')).toBe(0);
  });

  it('is antisymmetric and sorts a shuffled list into version order', () => {
    fc.assert(fc.property(version, version, (a, b) => compareVersions(a, b) === -compareVersions(b, a) || compareVersions(a, b) === 0));
    expect(['1.10', '1.2', '0.9.9', '1.2.1', '10', '1.2.0.5'].sort(compareVersions)).toEqual(['0.9.9', '1.2', '1.2.0.5', '1.2.1', '1.10', '10']);
  });
});

describe('versionSortKey', () => {
  it('orders as text exactly like compareVersions (so DynamoDB sorts releases by version)', () => {
    fc.assert(fc.property(version, version, (a, b) => sign(stringCompare(versionSortKey(a), versionSortKey(b))) === compareVersions(a, b)), { numRuns: 2_000 });
  });

  it('gives versions that compare equal the same key', () => {
    expect(versionSortKey('1.2')).toBe(versionSortKey('1.2.0.0'));
    expect(versionSortKey('1.2.3')).toBe('0000000001.0000000002.0000000003.0000000000');
  });

  it('sorts the largest allowed parts after smaller ones', () => {
    expect(stringCompare(versionSortKey('9999999999'), versionSortKey('999999999.9999999999'))).toBe(1);
  });
});
