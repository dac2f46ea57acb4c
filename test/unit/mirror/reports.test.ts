/**
 * mirror/reports.ts without a network: relay keys, reports files (signed, checked for
 * size, form and MAC before anything is queued), the queue (bad lines dropped) and the
 * upstream send (a batch the upstream refuses is dropped, never retried at every sync).
 */
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentError } from '../../../agent/errors.ts';
import type { HttpClient } from '../../../agent/http.ts';
import type { QueuedReport, ReportsBundle } from '../../../mirror/reports.ts';
import {
  exportReports,
  importReports,
  isReportsFile,
  keepRelayKey,
  MAX_REPORTS_FILE_BYTES,
  readRelayKey,
  readReportsFile,
  relayKeyFor,
  sendReports,
  takeQueuedReports,
} from '../../../mirror/reports.ts';
import type { MirrorConfig } from '../../../mirror/state.ts';
import { paths } from '../../../mirror/state.ts';

const licenseId = 'd'.repeat(32);
const agent = (i: number) => i.toString(16).padStart(32, '0');
const report = (i: number, overrides: Partial<QueuedReport> = {}): QueuedReport => ({ agentId: agent(i), product: 'demo-av', installedVersion: '1.0.0', result: 'ok', at: new Date(Date.UTC(2026, 11, 1, 0, i)).toISOString(), ...overrides });
const line = (r: unknown) => `${JSON.stringify(r)}\n`;

let work: string;
let connected: { dir: string; config: MirrorConfig };
let isolated: { dir: string; config: MirrorConfig };
let logged: string[];
const log = (l: string) => void logged.push(l);

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'signet-reports-unit-'));
  const make = (name: string, upstream?: string) => ({
    dir: join(work, name),
    config: { mirrorId: randomBytes(16).toString('hex'), licenseId, seats: 5, createdAt: new Date().toISOString(), ...(upstream && { upstream, licenseKey: 'KEY' }) } satisfies MirrorConfig,
  });
  connected = make('connected', 'http://upstream.invalid');
  isolated = make('isolated');
  for (const m of [connected, isolated]) await mkdir(m.dir, { recursive: true });
  logged = [];
});

afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

/** The isolated mirror as a bundle from the connected one leaves it: holding its relay key. */
async function handOverKey(): Promise<void> {
  await keepRelayKey(isolated.dir, await relayKeyFor(connected.dir, isolated.config.mirrorId));
}

async function queued(dir: string): Promise<QueuedReport[]> {
  const text = await readFile(paths(dir).reports, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as QueuedReport);
}

/** An upstream that answers each relay with `answer` (or throws it), recording the bodies. */
function upstream(answer: (body: { origin?: string; reports: QueuedReport[] }) => unknown) {
  const calls: Array<{ origin?: string; reports: QueuedReport[] }> = [];
  const http = {
    api: async (_method: string, _url: string, body: { origin?: string; reports: QueuedReport[] }) => {
      calls.push(body);
      const result = answer(body);
      if (result instanceof Error) throw result;
      return { status: 202, body: result };
    },
  } as unknown as HttpClient;
  return { http, calls };
}

describe('relay keys', () => {
  it('derives one key per isolated mirror from a secret of the connected mirror\'s own (0600), the same every time', async () => {
    const a = await relayKeyFor(connected.dir, isolated.config.mirrorId);
    expect(a).toHaveLength(32);
    expect(await relayKeyFor(connected.dir, isolated.config.mirrorId)).toEqual(a);
    expect(await relayKeyFor(connected.dir, 'e'.repeat(32))).not.toEqual(a);
    expect((await stat(join(connected.dir, 'keys', 'relay-secret'))).mode & 0o777).toBe(0o600);
    // Another connected mirror's secret gives another key.
    expect(await relayKeyFor(join(work, 'elsewhere'), isolated.config.mirrorId)).not.toEqual(a);
    await expect(relayKeyFor(connected.dir, 'not-an-id')).rejects.toThrow(/not a mirror id/);
  });

  it('keeps the key a bundle carried (0600), and refuses one of the wrong length', async () => {
    expect(await readRelayKey(isolated.dir)).toBeUndefined();
    await handOverKey();
    expect(await readRelayKey(isolated.dir)).toEqual(await relayKeyFor(connected.dir, isolated.config.mirrorId));
    expect((await stat(join(isolated.dir, 'keys', 'relay.key'))).mode & 0o777).toBe(0o600);
    await expect(keepRelayKey(isolated.dir, Buffer.alloc(5))).rejects.toThrow(/5 bytes/);
  });
});

describe('a reports file, from an isolated mirror to a connected one', () => {
  async function exported(reports: QueuedReport[] = [report(1), report(2, { result: 'failed', detail: 'disk full' })]): Promise<string> {
    await writeFile(paths(isolated.dir).reports, reports.map(line).join(''));
    const out = join(work, 'reports.json');
    expect(await exportReports(isolated.dir, isolated.config, out, log)).toBe(reports.length);
    return out;
  }

  it('is signed by the isolated mirror and queued at the connected one attributed to it (origin), its MAC checked', async () => {
    await handOverKey();
    const out = await exported();
    const file = JSON.parse(await readFile(out, 'utf8')) as ReportsBundle;
    expect(file).toMatchObject({ kind: 'signet-reports/2', from: isolated.config.mirrorId, licenseId, keyId: expect.stringMatching(/^[0-9a-f]{16}$/), mac: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(await isReportsFile(out)).toBe(true);
    // Taken out of the isolated mirror's queue.
    expect(await queued(isolated.dir)).toEqual([]);
    expect(await importReports(connected.dir, connected.config, await readReportsFile(out))).toEqual({ kind: 'reports', reports: 2 });
    expect(await queued(connected.dir)).toEqual([
      { ...report(1), origin: isolated.config.mirrorId },
      { ...report(2, { result: 'failed', detail: 'disk full' }), origin: isolated.config.mirrorId },
    ]);
  });

  it('is refused when a report was changed (MAC kept), when another connected mirror\'s key signed it, or when it names another mirror; nothing queued', async () => {
    await handOverKey();
    const out = await exported();
    const file = JSON.parse(await readFile(out, 'utf8')) as ReportsBundle;
    const variant = async (name: string, changed: unknown) => {
      const path = join(work, name);
      await writeFile(path, JSON.stringify(changed));
      return path;
    };
    const tampered = await variant('tampered.json', { ...file, reports: [file.reports[0], { ...file.reports[1], result: 'ok' }] });
    await expect(importReports(connected.dir, connected.config, await readReportsFile(tampered))).rejects.toThrow(/tampered\.json was not made by mirror .* MAC does not match, so it was changed after export; nothing was queued/);
    const renamed = await variant('renamed.json', { ...file, from: 'e'.repeat(32) });
    await expect(importReports(connected.dir, connected.config, await readReportsFile(renamed))).rejects.toThrow(/signed with another key/);
    const elsewhere = { ...connected, dir: join(work, 'elsewhere') };
    await relayKeyFor(elsewhere.dir, isolated.config.mirrorId);
    await expect(importReports(elsewhere.dir, elsewhere.config, await readReportsFile(out))).rejects.toThrow(/signed with another key/);
    await expect(importReports(join(work, 'never-exported'), connected.config, await readReportsFile(out))).rejects.toThrow(/has exported no bundle yet/);
    await expect(importReports(connected.dir, { ...connected.config, licenseId: 'a'.repeat(32) }, await readReportsFile(out))).rejects.toThrow(/another license/);
    await expect(importReports(isolated.dir, isolated.config, await readReportsFile(out))).rejects.toThrow(/no upstream/);
    expect(await queued(connected.dir)).toEqual([]);
  });

  it('cannot be written without a relay key (none came with a bundle yet), and an old unsigned one is refused', async () => {
    await writeFile(paths(isolated.dir).reports, line(report(1)));
    await expect(exportReports(isolated.dir, isolated.config, join(work, 'r.json'), log)).rejects.toThrow(/holds no relay key/);
    // The queue is untouched.
    expect(await takeQueuedReports(isolated.dir, log)).toHaveLength(1);
    const old = join(work, 'old.json');
    await writeFile(old, JSON.stringify({ kind: 'signet-reports/1', from: isolated.config.mirrorId, licenseId, reports: [report(1)] }));
    await expect(readReportsFile(old)).rejects.toThrow(/older signet mirror, without a MAC/);
  });

  it.each([
    ['malformed JSON', '{"kind": "signet-reports/2", "reports": [', /is not a reports file: it is not valid JSON/],
    ['an array', '[1, 2]', /is not a reports file: it holds an array/],
    ['empty', '', /is empty/],
    ['another kind', '{"kind":"something"}', /is not a Signet bundle or reports file/],
    ['reports not an array', `{"kind":"signet-reports/2","from":"${'a'.repeat(32)}","licenseId":"${licenseId}","keyId":"${'0'.repeat(16)}","reports":{},"mac":"${'0'.repeat(64)}"}`, /not a valid reports file \(reports must be an array\)/],
    ['a control character in a detail', `{"kind":"signet-reports/2","from":"${'a'.repeat(32)}","licenseId":"${licenseId}","keyId":"${'0'.repeat(16)}","reports":[${JSON.stringify(report(1, { detail: 'a\u0007b' }))}],"mac":"${'0'.repeat(64)}"}`, /not a valid reports file \(reports\.0\.detail must not contain control characters\)/],
  ])('%s: one line naming the file, before anything is queued', async (_name, content, says) => {
    const path = join(work, 'bad.json');
    await writeFile(path, content);
    expect(await isReportsFile(path)).toBe(true);
    const error = await readReportsFile(path).then(() => undefined, (e: Error) => e);
    expect(error?.message).toMatch(says);
    expect(error?.message).toContain(path);
    expect(error?.message.split('\n')).toHaveLength(1);
  });

  it('over 64 MiB is refused from its size, without being read', async () => {
    const path = join(work, 'huge.json');
    await writeFile(path, '{');
    await truncate(path, MAX_REPORTS_FILE_BYTES + 1);
    await expect(readReportsFile(path)).rejects.toThrow(/huge\.json is 64\.0 MiB: a reports file is at most 64 MiB/);
  });

  it('is told from a bundle (a tar stream) by its header', async () => {
    const tar = join(work, 'x.bundle');
    const header = Buffer.alloc(512);
    header.write('bundle.json');
    header.write('ustar', 257);
    await writeFile(tar, header);
    expect(await isReportsFile(tar)).toBe(false);
    const text = join(work, 'text.bundle');
    await writeFile(text, 'not a bundle at all, just text\n');
    expect(await isReportsFile(text)).toBe(false);
  });
});

describe('the queue, upstream', () => {
  it('drops a queued line the upstream would refuse, with a log line, and sends the rest', async () => {
    await appendFile(paths(connected.dir).reports, [line(report(1)), line(report(2, { detail: 'bell \u0007' })), 'not json\n', line(report(3))].join(''));
    const { http, calls } = upstream(() => ({ accepted: 2, skipped: 0 }));
    expect(await sendReports(connected.dir, http, 'http://upstream.invalid', connected.config, log)).toBe(2);
    expect(calls.map((c) => c.reports.map((r) => r.agentId))).toEqual([[agent(1), agent(3)]]);
    expect(logged).toEqual([expect.stringMatching(/^dropped 2 queued reports the upstream would refuse \(the first: detail must not contain control characters\)$/)]);
    expect(await queued(connected.dir)).toEqual([]);
  });

  it('sends one origin per batch: its own agents\' without one, an isolated mirror\'s with `origin`', async () => {
    const other = 'e'.repeat(32);
    await appendFile(paths(connected.dir).reports, [report(1), report(2, { origin: other }), report(3, { origin: other }), report(4)].map(line).join(''));
    const { http, calls } = upstream((body) => ({ accepted: body.reports.length, skipped: 0 }));
    await sendReports(connected.dir, http, 'http://upstream.invalid', connected.config, log);
    expect(calls.map((c) => [c.origin, c.reports.map((r) => r.agentId)])).toEqual([
      [undefined, [agent(1)]],
      [other, [agent(2), agent(3)]],
      [undefined, [agent(4)]],
    ]);
    expect(calls[1]?.reports[0]).not.toHaveProperty('origin');
  });

  it('drops a report the upstream\'s 400 names and delivers the rest; a batch still refused is dropped with a log line naming how many, never sent again', async () => {
    await appendFile(paths(connected.dir).reports, [1, 2, 3].map((i) => line(report(i))).join(''));
    const first = upstream((body) => (body.reports.some((r) => r.agentId === agent(2)) ? new AgentError('INVALID_REQUEST', `reports.${body.reports.findIndex((r) => r.agentId === agent(2))}.installedVersion: has characters or a form that is not allowed`, 400) : { accepted: body.reports.length, skipped: 0 }));
    await sendReports(connected.dir, first.http, 'http://upstream.invalid', connected.config, log);
    expect(first.calls.at(-1)?.reports.map((r) => r.agentId)).toEqual([agent(1), agent(3)]);
    expect(logged).toEqual([expect.stringMatching(/^dropped a report the upstream refused \(agent 0+2, demo-av 1\.0\.0\): reports\.1\.installedVersion/)]);

    logged = [];
    await appendFile(paths(connected.dir).reports, [4, 5].map((i) => line(report(i))).join(''));
    const refusing = upstream(() => new AgentError('INVALID_REQUEST', 'origin: is not a known field', 400));
    await sendReports(connected.dir, refusing.http, 'http://upstream.invalid', connected.config, log);
    expect(logged).toEqual(['dropped 2 reports the upstream refused (400 INVALID_REQUEST: origin: is not a known field)']);
    expect(await takeQueuedReports(connected.dir, log)).toEqual([]);
  });

  it('keeps what an unreachable or failing upstream did not take, for the next sync; halves a batch that is too large', async () => {
    await appendFile(paths(connected.dir).reports, [1, 2].map((i) => line(report(i))).join(''));
    const down = upstream(() => new AgentError('UNAVAILABLE', 'busy', 503, true));
    await expect(sendReports(connected.dir, down.http, 'http://upstream.invalid', connected.config, log)).rejects.toThrow(/busy/);
    const large = upstream((body) => (body.reports.length > 1 ? new AgentError('PAYLOAD_TOO_LARGE', 'too large', 413) : { accepted: 1, skipped: 0 }));
    expect(await sendReports(connected.dir, large.http, 'http://upstream.invalid', connected.config, log)).toBe(2);
    expect(large.calls.map((c) => c.reports.length)).toEqual([2, 1, 1]);
  });

  it('logs why the upstream skipped reports (more agents than seats, say)', async () => {
    await appendFile(paths(connected.dir).reports, [1, 2, 3].map((i) => line(report(i))).join(''));
    const { http } = upstream(() => ({ accepted: 1, skipped: 2, reasons: { "more agents than the mirror's seats": 2 } }));
    await sendReports(connected.dir, http, 'http://upstream.invalid', connected.config, log);
    expect(logged).toEqual(["relayed 3 reports: 1 counted, 2 skipped upstream (more agents than the mirror's seats: 2)"]);
  });
});
