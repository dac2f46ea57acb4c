/**
 * License keys and agent tokens: how they are made, named and checked. Both are random
 * secrets of 160 bits; the service stores only their SHA-256. A fast hash is right here
 * (unlike for passwords): the secrets are random, not chosen by people, so there is
 * nothing to guess from a stolen hash.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { sha256Hex } from '#lib/hash.ts';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** Compares two hex digests without leaking, through timing, how much of them matched. */
export function digestsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right);
}

/** `SIG-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX-XXXX`: 160 random bits, grouped so people can read them out. */
export function newLicenseKey(): string {
  const groups = base32(randomBytes(20)).match(/.{1,5}/g) ?? [];
  return `SIG-${groups.join('-')}`;
}

/** Keys are case-insensitive and may be typed with or without dashes and spaces. */
export function normalizeLicenseKey(key: string): string {
  return key.trim().toUpperCase().replace(/[\s-]/g, '');
}

export function licenseKeyHash(key: string): string {
  return sha256Hex(normalizeLicenseKey(key));
}

/**
 * The license's id: the first 128 bits of its key's hash. Safe to show and log, and
 * computable from the key alone, so an admin command can name a license by its key
 * without ever sending the key.
 */
export function licenseIdOf(key: string): string {
  return licenseKeyHash(key).slice(0, 32);
}

/** The machine's id as stored and put in tokens: a fixed-length hash of whatever the agent sent. */
export function machineHashOf(machineId: string): string {
  return sha256Hex(machineId).slice(0, 32);
}

/**
 * One agent per (license, product, machine): the id is derived from them, so a machine
 * that registers again finds its own record, in one read, without any index.
 */
export function agentIdOf(licenseId: string, product: string, machineId: string): string {
  return sha256Hex(`${licenseId}\n${product}\n${machineId}`).slice(0, 32);
}

/**
 * The bearer token: `sgt1.<licenseId>.<machineHash>.<agentId>.<secret>`. The first
 * four parts are identifiers (not secret, never enough on their own); they let the
 * service fetch the agent, its license and the machine's blacklist entry in one
 * BatchGetItem. Only the secret's hash is stored.
 */
export interface AgentToken {
  readonly licenseId: string;
  readonly machineHash: string;
  readonly agentId: string;
  readonly secret: string;
}

const HEX32 = /^[0-9a-f]{32}$/;

export function newAgentToken(licenseId: string, machineHash: string, agentId: string): { token: string; secretHash: string } {
  const secret = base32(randomBytes(20)).toLowerCase();
  return { token: `sgt1.${licenseId}.${machineHash}.${agentId}.${secret}`, secretHash: sha256Hex(secret) };
}

export function parseAgentToken(token: string): AgentToken | undefined {
  if (token.length > 200) return undefined;
  const parts = token.split('.');
  if (parts.length !== 5 || parts[0] !== 'sgt1') return undefined;
  const [, licenseId = '', machineHash = '', agentId = '', secret = ''] = parts;
  if (!HEX32.test(licenseId) || !HEX32.test(machineHash) || !HEX32.test(agentId) || !/^[a-z2-7]{32}$/.test(secret)) {
    return undefined;
  }
  return { licenseId, machineHash, agentId, secret };
}
