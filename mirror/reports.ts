/**
 * Agents' reports on their way upstream: queued in reports.jsonl as agents make them
 * (mirror/licensing.ts), sent in batches at each sync, and carried out of an isolated
 * segment as a reports file (`signet mirror export --reports`), which a mirror that
 * reaches the service imports and sends on with its own.
 *
 * Every report is checked with the schema the upstream checks a relay with
 * (lib/delivery/requests.ts `relayedReport`) where it enters: an agent's report here, a
 * reports file at import, a queued line before it is sent. One the upstream refuses all
 * the same is dropped with a log line, never retried at every sync.
 *
 * A reports file says which isolated mirror made it (`from`) and under which license, and
 * carries an HMAC-SHA256 over its canonical body with that mirror's relay key. A connected
 * mirror derives the relay key of each mirror it exports a bundle for from a secret of its
 * own (keys/relay-secret, 0600): HMAC(secret, the mirror's id). The bundle carries the key
 * to the isolated mirror, which keeps it (keys/relay.key) and signs its reports files with
 * it; the connected mirror recomputes it at import and checks the MAC. The upstream then
 * counts those reports against the isolated mirror's own seats (`origin` of the relay).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { link, mkdir, open, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalize } from '@tufjs/canonical-json';
import * as z from 'zod/mini';
import { relayedReport, MAX_RELAYED_REPORTS } from '#lib/delivery/requests.ts';
import { writeFileAtomic } from '#lib/files.ts';
import { describeIssue } from '#lib/http/body.ts';
import { withoutControlCharacters } from '#lib/http/text.ts';
import { mirrorId as mirrorIdSchema } from '#lib/licensing/requests.ts';
import { AgentError } from '../agent/errors.ts';
import type { HttpClient } from '../agent/http.ts';
import { MirrorError } from './errors.ts';
import type { RelayedReport } from './licensing.ts';
import type { MirrorConfig } from './state.ts';
import { paths } from './state.ts';

/** Version 2: the first with `from` checked, a key id and a MAC; version 1 files (unsigned) are refused. */
export const REPORTS_KIND = 'signet-reports/2';
const UNSIGNED_KIND = 'signet-reports/1';

/** A reports file may be this large at most: read whole into memory at import, so bounded (64 MiB: some 250,000 reports). */
export const MAX_REPORTS_FILE_BYTES = 64 * 1024 * 1024;

/** What the MAC covers: everything in the file but the MAC, in canonical JSON. */
export interface ReportsBody {
  readonly kind: typeof REPORTS_KIND;
  /** The isolated mirror whose agents made the reports. */
  readonly from: string;
  readonly licenseId: string;
  /** The first 16 hex characters of the relay key's SHA-256: which key signed it, so a file taken to the wrong mirror is told apart from a changed one. */
  readonly keyId: string;
  readonly reports: readonly RelayedReport[];
}

export interface ReportsBundle extends ReportsBody {
  /** HMAC-SHA256 of the canonical body with the relay key of `from`, hex. */
  readonly mac: string;
}

/** A reports file as read and checked for its form (its MAC is checked at import, where the key is). */
export interface ReportsFileRead extends ReportsBundle {
  readonly file: string;
}

/** A report in the queue: `origin` is the isolated mirror whose agent made it, for reports imported from a file. */
export type QueuedReport = RelayedReport & { readonly origin?: string };

const hex = (length: number) => z.string().check(z.regex(new RegExp(`^[0-9a-f]{${length}}$`)));
const queuedReport = z.extend(relayedReport, { origin: z.optional(mirrorIdSchema) });
const reportsFileSchema = z.strictObject({
  kind: z.literal(REPORTS_KIND),
  from: mirrorIdSchema,
  licenseId: hex(32),
  keyId: hex(16),
  reports: z.array(relayedReport),
  mac: hex(64),
});

const REPORTS_PER_CALL = 500;
/** Bytes of reports per call, well under the route's 2 MB: a detail of 1,000 escaped characters is 6 kB of JSON. */
const BYTES_PER_CALL = 1024 * 1024;
/** Reports the upstream refused one by one (by the index its 400 names) before the rest of that batch is dropped. */
const MAX_SINGLED_OUT = 10;

export type ReportsLog = (line: string) => void;
const stderrLog: ReportsLog = (line) => process.stderr.write(`signet mirror: ${line}\n`);

/** What a schema says is wrong with `value`, as `field: problem`. */
function problemOf(schema: z.ZodMiniType, value: unknown): string | undefined {
  const result = schema.safeParse(value);
  if (result.success) return undefined;
  const issue = result.error.issues[0];
  if (!issue) return 'is not valid';
  const { field, problem } = describeIssue(issue, value);
  return field ? `${field} ${problem}` : problem;
}

// --- Relay keys -------------------------------------------------------------------------

const relaySecretPath = (dir: string) => join(paths(dir).keys, 'relay-secret');
const relayKeyPath = (dir: string) => join(paths(dir).keys, 'relay.key');
const RELAY_KEY_CONTEXT = 'signet-relay-key/1\n';
const RELAY_KEY_BYTES = 32;

async function readSecret(file: string): Promise<Buffer | undefined> {
  const bytes = await readFile(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (bytes === undefined) return undefined;
  if (bytes.length !== RELAY_KEY_BYTES) throw new MirrorError(`${file} is not a relay key (${bytes.length} bytes, not ${RELAY_KEY_BYTES}): remove it, and export the bundles again`);
  return bytes;
}

/** This mirror's relay secret, made (32 random bytes, 0600) on first use; two processes making it at once agree on one. */
async function relaySecret(dir: string): Promise<Buffer> {
  const file = relaySecretPath(dir);
  const existing = await readSecret(file);
  if (existing) return existing;
  await mkdir(paths(dir).keys, { recursive: true, mode: 0o700 });
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, randomBytes(RELAY_KEY_BYTES), { mode: 0o600 });
  // link() does not replace: the first one made wins, and everyone reads it.
  await link(temp, file).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  await rm(temp, { force: true });
  return (await readSecret(file)) as Buffer;
}

function deriveRelayKey(secret: Buffer, forMirrorId: string): Buffer {
  return createHmac('sha256', secret).update(`${RELAY_KEY_CONTEXT}${forMirrorId}`).digest();
}

/**
 * The relay key of the mirror `forMirrorId`, as this (connected) mirror derives it: what a
 * bundle for that mirror carries, and what its reports files are checked with here.
 */
export async function relayKeyFor(dir: string, forMirrorId: string): Promise<Buffer> {
  if (!mirrorIdSchema.safeParse(forMirrorId).success) throw new MirrorError(`${forMirrorId} is not a mirror id (32 hex characters)`);
  return deriveRelayKey(await relaySecret(dir), forMirrorId);
}

/** Keeps the relay key a bundle carried (0600): this (isolated) mirror signs its reports files with it. */
export async function keepRelayKey(dir: string, key: Buffer): Promise<void> {
  if (key.length !== RELAY_KEY_BYTES) throw new MirrorError(`the bundle's relay key is ${key.length} bytes, not ${RELAY_KEY_BYTES}: export the bundle again`);
  await mkdir(paths(dir).keys, { recursive: true, mode: 0o700 });
  await writeFileAtomic(relayKeyPath(dir), key, 0o600);
}

/** The relay key the last bundle carried, if one did. */
export async function readRelayKey(dir: string): Promise<Buffer | undefined> {
  return readSecret(relayKeyPath(dir));
}

/** Which key signed a file, without saying anything of the key. */
export function relayKeyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

function macOf(key: Buffer, body: ReportsBody): Buffer {
  const { kind, from, licenseId, keyId, reports } = body;
  return createHmac('sha256', key).update(canonicalize({ kind, from, licenseId, keyId, reports })).digest();
}

// --- Reports files ------------------------------------------------------------------------

/**
 * Whether `file` is a reports file (JSON) rather than a bundle (a tar stream): not a tar
 * (`ustar` at 257) and a JSON object or array to look at (an array is refused as a
 * reports file, by readReportsFile, with the reason); an empty file too, so it is said to be empty.
 */
export async function isReportsFile(file: string): Promise<boolean> {
  const head = await open(file, 'r');
  try {
    const peek = Buffer.alloc(512);
    const { bytesRead } = await head.read(peek, 0, peek.length, 0);
    if (bytesRead === 0) return true; // neither: readReportsFile says it is empty
    if (bytesRead >= 262 && peek.subarray(257, 262).toString('latin1') === 'ustar') return false;
    const first = peek.subarray(0, bytesRead).toString('latin1').trimStart()[0];
    // An object or an array: what a reports file is, or what one would be mistaken for (anything else is left to the bundle's checks).
    return first === '{' || first === '[';
  } finally {
    await head.close();
  }
}

/**
 * A reports file, checked before anything is queued: its size (at most
 * MAX_REPORTS_FILE_BYTES, from stat, before it is read), that it is JSON, that it is a
 * reports file of this version, and every report against the relay's schema. Each
 * failure is one line naming the file and what to do.
 */
export async function readReportsFile(file: string): Promise<ReportsFileRead> {
  const size = await stat(file).then(
    (s) => s.size,
    () => {
      throw new MirrorError(`cannot read ${file}: no such file`);
    },
  );
  const again = 'export it again on the isolated mirror (signet mirror export --reports)';
  if (size === 0) throw new MirrorError(`${file} is empty: not a bundle or a reports file (cut short?); ${again}`);
  if (size > MAX_REPORTS_FILE_BYTES) {
    throw new MirrorError(`${file} is ${(size / 1024 / 1024).toFixed(1)} MiB: a reports file is at most ${MAX_REPORTS_FILE_BYTES / 1024 / 1024} MiB (the isolated mirror writes no larger ones); it is not one, or was changed`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    if (error instanceof SyntaxError) throw new MirrorError(`${file} is not a reports file: it is not valid JSON (cut short, or changed?); ${again}`);
    throw new MirrorError(`cannot read ${file}: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new MirrorError(`${file} is not a reports file: it holds ${Array.isArray(parsed) ? 'an array' : parsed === null ? 'null' : `a ${typeof parsed}`}, not the object signet mirror export --reports writes`);
  }
  const kind = (parsed as { kind?: unknown }).kind;
  if (kind === UNSIGNED_KIND) throw new MirrorError(`${file} was written by an older signet mirror, without a MAC, and is not taken: update the isolated mirror and ${again}`);
  if (kind !== REPORTS_KIND) throw new MirrorError(`${file} is not a Signet bundle or reports file`);
  const problem = problemOf(reportsFileSchema, parsed);
  if (problem) throw new MirrorError(`${file} is not a valid reports file (${withoutControlCharacters(problem)}): it was changed or made by hand; nothing was queued; ${again}`);
  return { ...(parsed as ReportsBundle), file };
}

/** Appends `lines` to the queue whole or not at all: on a failure the queue is cut back to where it was. */
async function appendToQueue(dir: string, lines: string): Promise<void> {
  const queue = paths(dir).reports;
  const before = await stat(queue).then(
    (s) => s.size,
    () => 0,
  );
  try {
    const handle = await open(queue, 'a', 0o600);
    try {
      await handle.writeFile(lines);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    await truncate(queue, before).catch(() => undefined);
    throw diskError(error, queue, 'queue the reports');
  }
}

/** A write that failed, said as what to do: a full disk with the path. */
export function diskError(error: unknown, file: string, doing: string): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new MirrorError(`cannot ${doing} in ${file}: the disk is full; free some space and try again (nothing was changed)`);
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return new MirrorError(`cannot ${doing} in ${file}: not writable (${code})`);
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * Reports from an isolated segment, queued here to go upstream with this mirror's own,
 * attributed to the mirror that made them: only if the file's MAC is the one this
 * mirror's relay key for that mirror gives (in constant time). Otherwise refused with one
 * line, and nothing is queued.
 */
export async function importReports(dir: string, config: MirrorConfig, bundle: ReportsFileRead | ReportsBundle): Promise<{ kind: 'reports'; reports: number }> {
  const file = 'file' in bundle ? bundle.file : 'the reports file';
  if (!config.upstream) throw new MirrorError(`${file}: reports go to a mirror that reaches the service (this one has no upstream); import it there`);
  if (config.licenseId && bundle.licenseId !== config.licenseId) throw new MirrorError(`${file} was made under another license (${bundle.licenseId}); this mirror serves ${config.licenseId}`);
  if (bundle.from === config.mirrorId) throw new MirrorError(`${file} was made by this mirror itself: a reports file goes from an isolated mirror to the connected one that exported its bundles`);
  const secret = await readSecret(relaySecretPath(dir));
  const refused = `${file} was not made by mirror ${bundle.from} with the relay key this mirror gave it`;
  if (!secret) throw new MirrorError(`${refused}: this mirror has exported no bundle yet; import it at the connected mirror that exports the bundles for ${bundle.from}`);
  const key = deriveRelayKey(secret, bundle.from);
  if (bundle.keyId !== relayKeyId(key)) throw new MirrorError(`${refused}: it is signed with another key (a bundle from another connected mirror?); import it at the mirror whose bundle ${bundle.from} took last`);
  const mac = Buffer.from(bundle.mac, 'hex');
  const expected = macOf(key, bundle);
  if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) throw new MirrorError(`${refused}: its MAC does not match, so it was changed after export; nothing was queued; export it again on the isolated mirror`);
  const lines = bundle.reports.map((r) => `${JSON.stringify({ ...r, origin: bundle.from } satisfies QueuedReport)}\n`).join('');
  await appendToQueue(dir, lines);
  return { kind: 'reports', reports: bundle.reports.length };
}

/**
 * The reports of agents in this isolated segment, as a file to carry to a mirror that
 * reaches the service, signed with the relay key the last bundle carried. At most
 * MAX_REPORTS_FILE_BYTES per file: what does not fit stays queued for the next export.
 */
export async function exportReports(dir: string, config: MirrorConfig, out: string, log: ReportsLog = stderrLog): Promise<number> {
  if (!config.licenseId) throw new MirrorError('the mirror has no license: it has taken no bundle yet');
  const key = await readRelayKey(dir);
  if (!key) throw new MirrorError('this mirror holds no relay key, which its reports file is signed with: it comes with a bundle from the connected mirror (signet mirror import BUNDLE); import one, then export the reports');
  const queued = await takeQueuedReports(dir, log);
  // Reports queued here are this mirror's agents'; one imported from elsewhere has no place in an isolated mirror's file.
  const own = queued.filter((r) => r.origin === undefined || r.origin === config.mirrorId).map(({ origin: _origin, ...r }) => r);
  const room = MAX_REPORTS_FILE_BYTES - 4096;
  let bytes = 0;
  let fit = 0;
  for (const report of own) {
    bytes += Buffer.byteLength(JSON.stringify(report)) + 1;
    if (bytes > room) break;
    fit++;
  }
  const reports = own.slice(0, fit);
  const body: ReportsBody = { kind: REPORTS_KIND, from: config.mirrorId, licenseId: config.licenseId, keyId: relayKeyId(key), reports };
  const bundle: ReportsBundle = { ...body, mac: macOf(key, body).toString('hex') };
  try {
    await writeFileAtomic(out, JSON.stringify(bundle), 0o644);
  } catch (error) {
    throw diskError(error, out, 'write the reports file');
  }
  const rest = own.slice(fit);
  const sending = `${paths(dir).reports}.sending`;
  if (rest.length > 0) {
    await writeFileAtomic(sending, rest.map((r) => `${JSON.stringify(r)}\n`).join(''));
    log(`${rest.length} more reports did not fit in ${out} (${MAX_REPORTS_FILE_BYTES / 1024 / 1024} MiB at most): they stay queued; export again`);
  } else {
    await rm(sending, { force: true });
  }
  return reports.length;
}

// --- The queue and the upstream -------------------------------------------------------------

/**
 * The queued reports, moved aside to be sent: new reports go on arriving in the queue
 * meanwhile. A line that is not a report the upstream takes (a hand-edited queue, a
 * version that queued what this one refuses) is dropped with a log line.
 */
export async function takeQueuedReports(dir: string, log: ReportsLog = stderrLog): Promise<QueuedReport[]> {
  const { reports } = paths(dir);
  const sending = `${reports}.sending`;
  // A batch left from a sync that failed goes first; then what arrived since.
  await rename(reports, `${sending}.new`).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
  let dropped = 0;
  let firstProblem = '';
  const read = async (file: string): Promise<QueuedReport[]> => {
    const text = await readFile(file, 'utf8').catch(() => '');
    const kept: QueuedReport[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        value = undefined;
      }
      const problem = value === undefined ? 'not JSON' : problemOf(queuedReport, value);
      if (problem) {
        dropped++;
        firstProblem ||= problem;
        continue;
      }
      kept.push(value as QueuedReport);
    }
    return kept;
  };
  const all = [...(await read(sending)), ...(await read(`${sending}.new`))];
  if (dropped > 0) log(`dropped ${dropped} queued report${dropped === 1 ? '' : 's'} the upstream would refuse (the first: ${withoutControlCharacters(firstProblem)})`);
  await writeFileAtomic(sending, all.map((r) => `${JSON.stringify(r)}\n`).join(''));
  await rm(`${sending}.new`, { force: true });
  return all;
}

/** The next batch from `start`: reports of one origin, at most REPORTS_PER_CALL and BYTES_PER_CALL of them (at least one). */
function batchEnd(reports: readonly QueuedReport[], start: number): number {
  const origin = reports[start]?.origin;
  let bytes = 0;
  let end = start;
  while (end < reports.length && end - start < Math.min(REPORTS_PER_CALL, MAX_RELAYED_REPORTS)) {
    const report = reports[end] as QueuedReport;
    if (report.origin !== origin) break;
    bytes += Buffer.byteLength(JSON.stringify(report)) + 1;
    if (bytes > BYTES_PER_CALL && end > start) break;
    end++;
  }
  return end;
}

interface RelayAnswer {
  readonly accepted?: number;
  readonly skipped?: number;
  readonly reasons?: Readonly<Record<string, number>>;
}

/** Whether an upstream error refuses the batch itself (so retrying it as is can never help). */
function refusesBatch(error: unknown): error is AgentError {
  return error instanceof AgentError && (error.status === 400 || error.status === 413);
}

/**
 * One batch upstream. A batch the upstream refuses (400, 413) is not retried as it is: a
 * report its 400 names is dropped with a log line and the rest sent again (up to
 * MAX_SINGLED_OUT of them); a 413 halves the batch; what is still refused is dropped with
 * a log line naming how many. Any other failure (network, 5xx, the license) is thrown:
 * the batch stays queued for the next sync.
 */
async function sendBatch(send: (reports: readonly QueuedReport[]) => Promise<RelayAnswer>, batch: readonly QueuedReport[], log: ReportsLog): Promise<void> {
  const pending = [...batch];
  for (let singled = 0; pending.length > 0; ) {
    try {
      const answer = await send(pending);
      if ((answer.skipped ?? 0) > 0) {
        const why = Object.entries(answer.reasons ?? {}).map(([reason, count]) => `${withoutControlCharacters(reason)}: ${count}`).join(', ');
        log(`relayed ${pending.length} reports${pending[0]?.origin ? ` of mirror ${pending[0].origin}` : ''}: ${answer.accepted ?? 0} counted, ${answer.skipped} skipped upstream${why ? ` (${why})` : ''}`);
      }
      return;
    } catch (error) {
      if (!refusesBatch(error)) throw error;
      if (error.status === 413 && pending.length > 1) {
        const half = Math.ceil(pending.length / 2);
        await sendBatch(send, pending.slice(0, half), log);
        await sendBatch(send, pending.slice(half), log);
        return;
      }
      const named = /^reports\.(\d+)[.:]/.exec(error.message);
      const index = named ? Number(named[1]) : -1;
      if (error.status === 400 && index >= 0 && index < pending.length && singled < MAX_SINGLED_OUT) {
        const [bad] = pending.splice(index, 1);
        singled++;
        log(`dropped a report the upstream refused (agent ${bad?.agentId}, ${bad?.product} ${bad?.installedVersion}): ${withoutControlCharacters(error.message)}`);
        continue;
      }
      log(`dropped ${pending.length} report${pending.length === 1 ? '' : 's'} the upstream refused (${error.status} ${error.code}: ${withoutControlCharacters(error.message)})`);
      return;
    }
  }
}

/**
 * Agents' reports queued here, upstream in batches (one origin per batch: this mirror's
 * agents', or an isolated mirror's, imported); what is not sent stays queued for the next
 * sync. `log`: where a dropped report, or a batch the upstream skipped reports of, is
 * said (stderr by default). Returns how many reports were taken from the queue.
 */
export async function sendReports(dir: string, http: HttpClient, upstream: string, config: MirrorConfig, log: ReportsLog = stderrLog): Promise<number> {
  const reports = await takeQueuedReports(dir, log);
  const sending = `${paths(dir).reports}.sending`;
  const send = async (batch: readonly QueuedReport[]): Promise<RelayAnswer> => {
    const origin = batch[0]?.origin;
    const body = {
      licenseKey: config.licenseKey,
      mirrorId: config.mirrorId,
      ...(origin !== undefined && origin !== config.mirrorId && { origin }),
      reports: batch.map(({ origin: _origin, ...report }) => report),
    };
    return (await http.api<RelayAnswer>('POST', `${upstream}/v1/mirrors/reports`, body)).body;
  };
  for (let start = 0; start < reports.length; ) {
    const end = batchEnd(reports, start);
    await sendBatch(send, reports.slice(start, end), log);
    start = end;
    await writeFileAtomic(sending, reports.slice(start).map((r) => `${JSON.stringify(r)}\n`).join(''));
  }
  await rm(sending, { force: true });
  return reports.length;
}
