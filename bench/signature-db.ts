/**
 * A synthetic signature database, for measuring binary patches between releases: one
 * record a line, shaped like ClamAV's .ndb body signatures
 * (`Win.Trojan.Agent-1234567-0:0:*:<hex body of 40-400 chars>`), deterministic from a seed.
 *
 * Version 0 (the base) holds records until it reaches a given size. Each later version
 * replaces about 1% of the records it inherits (the same line position, a new record)
 * and appends as many new ones as 1% of the base's records, so a release changes about
 * 2% of the records: the shape of a daily signature update.
 *
 * Every record is a pure function of (seed, key), so a version is streamed to a file
 * record by record, without holding the database in memory.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';

/** The share of inherited records each version replaces (and, of the base's count, appends). */
export const CHANGE_RATE = 0.01;

const PLATFORMS = ['Win', 'Unix', 'Osx', 'Andr', 'Doc', 'Xls', 'Pdf', 'Html', 'Js', 'Email'] as const;
const CATEGORIES = ['Trojan', 'Malware', 'Exploit', 'Downloader', 'Dropper', 'Virus', 'Worm', 'Ransomware', 'Adware', 'Phishing'] as const;
const FAMILIES = [
  'Agent', 'Generic', 'Emotet', 'Qakbot', 'Dridex', 'Zbot', 'Ramnit', 'Sality', 'Virut', 'Mirai',
  'Gafgyt', 'Tsunami', 'Lokibot', 'Formbook', 'AgentTesla', 'Remcos', 'NanoCore', 'Ursnif', 'IcedID', 'Trickbot',
  'CobaltStrike', 'Meterpreter', 'Webshell', 'Coinminer', 'Redline', 'Vidar', 'Raccoon', 'AsyncRAT', 'njRAT', 'Blackmoon',
] as const;

/** 32-bit FNV-1a of a string: the seed of one record's generator. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a small, fast, deterministic 32-bit generator. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** A value in [0, 1) from (seed, label): whether a version replaces a position. */
function chance(seed: number, label: string): number {
  return generator(hash32(`${seed}/${label}`))() / 2 ** 32;
}

/** One record, without its newline: a pure function of (seed, key). */
export function signatureRecord(seed: number, key: string): string {
  const next = generator(hash32(`${seed}:${key}`));
  const platform = PLATFORMS[next() % PLATFORMS.length] as string;
  const category = CATEGORIES[next() % CATEGORIES.length] as string;
  const family = FAMILIES[next() % FAMILIES.length] as string;
  const id = 1_000_000 + (next() % 9_000_000);
  const bodyBytes = 20 + (next() % 181); // 40..400 hex characters
  const body = Buffer.allocUnsafe(bodyBytes + 3);
  for (let i = 0; i < bodyBytes; i += 4) body.writeUInt32LE(next(), i);
  return `${platform}.${category}.${family}-${id}-0:0:*:${body.toString('hex', 0, bodyBytes)}`;
}

/** The number of records in the base (version 0) of `bytes` bytes: records are added until the size is reached. */
export function baseRecordCount(seed: number, bytes: number): number {
  let size = 0;
  let count = 0;
  while (size < bytes) size += signatureRecord(seed, `0:${count++}`).length + 1;
  return count;
}

/** The records of one version, in file order. */
export function* versionRecords(seed: number, baseCount: number, version: number): Generator<string> {
  const appended = Math.round(baseCount * CHANGE_RATE);
  const total = baseCount + appended * version;
  for (let position = 0; position < total; position++) {
    // A position is created by version 0 (the base) or by the version that appended it,
    // then replaced by each later version with probability CHANGE_RATE; the last one wins.
    const created = position < baseCount ? 0 : 1 + Math.floor((position - baseCount) / appended);
    let key = `${created}:${position}`;
    for (let v = created + 1; v <= version; v++) if (chance(seed, `${v}:${position}`) < CHANGE_RATE) key = `${v}:${position}`;
    yield signatureRecord(seed, key);
  }
}

/** Streams one version to `file` (1 MiB writes); resolves with its size in bytes and record count. */
export async function writeVersion(file: string, seed: number, baseCount: number, version: number): Promise<{ bytes: number; records: number }> {
  const out = createWriteStream(file);
  let chunk: string[] = [];
  let chunkBytes = 0;
  let bytes = 0;
  let records = 0;
  const flush = async () => {
    if (!out.write(chunk.join(''))) await once(out, 'drain');
    chunk = [];
    chunkBytes = 0;
  };
  for (const record of versionRecords(seed, baseCount, version)) {
    const line = `${record}\n`;
    chunk.push(line);
    chunkBytes += line.length;
    bytes += line.length;
    records++;
    if (chunkBytes >= 1 << 20) await flush();
  }
  await flush();
  out.end();
  await once(out, 'finish');
  return { bytes, records };
}

/** Writes versions 0..`versions` of a database whose base is about `baseBytes` to `fileOf(version)`. */
export async function writeDatabase(fileOf: (version: number) => string, seed: number, baseBytes: number, versions: number): Promise<Array<{ file: string; bytes: number; records: number }>> {
  const baseCount = baseRecordCount(seed, baseBytes);
  const written = [];
  for (let version = 0; version <= versions; version++) written.push({ file: fileOf(version), ...(await writeVersion(fileOf(version), seed, baseCount, version)) });
  return written;
}
