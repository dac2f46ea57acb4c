import { describe, expect, it } from 'vitest';
import { parseWith } from '#lib/http/body.ts';
import { freeText, hasControlCharacter, withoutControlCharacters } from '#lib/http/text.ts';
import { reportBody } from '#lib/delivery/requests.ts';
import { blacklistBody, createLicenseBody, registrationBody } from '#lib/licensing/requests.ts';

const controls = [
  ['NUL', '\u0000'],
  ['TAB', '\t'],
  ['LF', '\n'],
  ['CR', '\r'],
  ['ESC (an ANSI escape)', '\u001b[31m'],
  ['US', '\u001f'],
  ['DEL', '\u007f'],
  ['C1 0x80', '\u0080'],
  ['C1 NEL 0x85', '\u0085'],
  ['C1 CSI 0x9B', '\u009b'],
  ['C1 0x9F', '\u009f'],
] as const;

describe('free text refuses control characters', () => {
  it.each(controls)('finds %s', (_name, control) => {
    expect(hasControlCharacter(`host${control}name`)).toBe(true);
  });

  it.each([['plain ASCII', 'pc-1.example.com'], ['a space', 'disk full'], ['Latin-1 letters past the C1 range', 'Müller \u00a0\u00ff'], ['other scripts and emoji', 'サーバー 🙂']])('accepts %s', (_name, text) => {
    expect(hasControlCharacter(text)).toBe(false);
    expect(freeText(100).safeParse(text).success).toBe(true);
  });

  it.each(controls)('refuses %s with a 400 naming the field', (_name, control) => {
    expect(() => parseWith(freeText(100), `a${control}b`)).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST', message: 'body: must not contain control characters' }));
  });

  it('keeps the length limits', () => {
    expect(() => parseWith(freeText(3, 1), '')).toThrow('must be at least 1 characters');
    expect(() => parseWith(freeText(3, 1), 'abcd')).toThrow('must be at most 3 characters');
  });

  it('replaces each control character with a space for clients that pass on text they did not write', () => {
    expect(withoutControlCharacters('VERIFICATION_FAILED:\r\n\u001b[31mbad\u0000\u0085')).toBe('VERIFICATION_FAILED:   [31mbad  ');
  });
});

describe('every free-text field of the request bodies uses it', () => {
  const registration = { licenseKey: 'SIG-X', machineId: 'm-1', product: 'demo-av', os: 'linux', arch: 'x64' };
  it.each([
    ['registration hostname', registrationBody, { ...registration, hostname: 'pc-1\r\nX-Injected: 1' }, 'hostname'],
    ['registration licenseKey', registrationBody, { ...registration, licenseKey: 'SIG-X\u0000' }, 'licenseKey'],
    ['report detail', reportBody, { product: 'demo-av', installedVersion: '1.0.0', result: 'failed', detail: '\u001b[2Jgone' }, 'detail'],
    ['license customer', createLicenseBody, { customer: 'ACME\u009b31m', products: ['demo-av'], seats: 1, expires: '2030-01-01' }, 'customer'],
    ['blacklist reason', blacklistBody, { reason: 'stolen\u007f' }, 'reason'],
  ])('%s', (_name, schema, body, field) => {
    expect(() => parseWith(schema as never, body)).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST', message: `${field}: must not contain control characters` }));
  });
});
