/**
 * CloudFront's URL-safe base64 variant, used for the `Policy` and `Signature` query
 * parameters: standard base64 with `+` → `-`, `=` → `_`, `/` → `~`. It is not RFC 4648
 * base64url (that one uses `-`, `_` for `+`, `/` and drops the padding), so neither
 * Node's `base64` nor `base64url` decoders can be used on it directly.
 */

export function encodeCloudFrontBase64(bytes: Uint8Array | string): string {
  const b64 = Buffer.from(bytes).toString('base64');
  return b64.replace(/[+=/]/g, (c) => (c === '+' ? '-' : c === '=' ? '_' : '~'));
}

const cloudFrontAlphabet = /^[A-Za-z0-9~-]*_{0,2}$/;

/**
 * Strict decode: only CloudFront's alphabet, padding (`_`) present and only at the end,
 * and only the canonical encoding of the bytes. Node's own decoder skips foreign
 * characters, tolerates missing padding and ignores the unused low bits of the last
 * character, so several strings would decode to one signature; every AWS signer writes
 * the canonical padded form, and refusing the others keeps "a URL that changed never
 * verifies" true.
 */
export function decodeCloudFrontBase64(text: string): Buffer | undefined {
  if (text.length % 4 !== 0 || !cloudFrontAlphabet.test(text)) return undefined;
  const standard = text.replace(/[-_~]/g, (c) => (c === '-' ? '+' : c === '_' ? '=' : '/'));
  const bytes = Buffer.from(standard, 'base64');
  if (bytes.toString('base64') !== standard) return undefined;
  return bytes;
}
