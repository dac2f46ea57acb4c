/**
 * Agents' reports on their way upstream: queued in reports.jsonl as agents make them
 * (mirror/licensing.ts), sent in batches at each sync, and carried out of an isolated
 * segment as a reports file (`signet mirror export --reports`), which a mirror that
 * reaches the service imports and sends on with its own.
 */
import { open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { writeFileAtomic } from '#lib/files.ts';
import type { HttpClient } from '../agent/http.ts';
import { MirrorError } from './errors.ts';
import type { RelayedReport } from './licensing.ts';
import type { MirrorConfig } from './state.ts';
import { paths } from './state.ts';

export const REPORTS_KIND = 'signet-reports/1';

export interface ReportsBundle {
  readonly kind: typeof REPORTS_KIND;
  readonly from: string;
  readonly licenseId: string;
  readonly reports: readonly RelayedReport[];
}

const REPORTS_PER_CALL = 500;

/** Whether `file` is a reports file (plain JSON) rather than a bundle (a tar stream). */
export async function isReportsFile(file: string): Promise<boolean> {
  const head = await open(file, 'r');
  try {
    const peek = Buffer.alloc(1);
    await head.read(peek, 0, 1, 0);
    return peek.toString() === '{';
  } finally {
    await head.close();
  }
}

/** A reports file, read and checked for its kind. */
export async function readReportsFile(file: string): Promise<ReportsBundle> {
  const parsed = JSON.parse(await readFile(file, 'utf8')) as ReportsBundle;
  if (parsed.kind !== REPORTS_KIND) throw new MirrorError('not a Signet bundle');
  return parsed;
}

/** Agents' reports queued here, upstream in batches; what is not sent stays queued for the next sync. */
export async function sendReports(dir: string, http: HttpClient, upstream: string, config: MirrorConfig): Promise<number> {
  const reports = await takeQueuedReports(dir);
  const sending = `${paths(dir).reports}.sending`;
  for (let sent = 0; sent < reports.length; sent += REPORTS_PER_CALL) {
    await http.api('POST', `${upstream}/v1/mirrors/reports`, { licenseKey: config.licenseKey, mirrorId: config.mirrorId, reports: reports.slice(sent, sent + REPORTS_PER_CALL) });
    const rest = reports.slice(sent + REPORTS_PER_CALL);
    await writeFileAtomic(sending, rest.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }
  await rm(sending, { force: true });
  return reports.length;
}

/** The queued reports, moved aside to be sent: new reports go on arriving in the queue meanwhile. */
export async function takeQueuedReports(dir: string): Promise<RelayedReport[]> {
  const { reports } = paths(dir);
  const sending = `${reports}.sending`;
  // A batch left from a sync that failed goes first; then what arrived since.
  await rename(reports, `${sending}.new`).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
  const read = async (file: string) => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).map((line) => JSON.parse(line) as RelayedReport);
  const all = [...(await read(sending)), ...(await read(`${sending}.new`))];
  await writeFileAtomic(sending, all.map((r) => JSON.stringify(r)).join('\n') + (all.length ? '\n' : ''));
  await rm(`${sending}.new`, { force: true });
  return all;
}

/** Reports from an isolated segment, queued here to go upstream with this mirror's own. */
export async function importReports(dir: string, config: MirrorConfig, bundle: ReportsBundle): Promise<{ kind: 'reports'; reports: number }> {
  if (config.licenseId && bundle.licenseId !== config.licenseId) throw new MirrorError('the reports were made under another license');
  if (!config.upstream) throw new MirrorError('reports go to a mirror that reaches the service');
  const lines = bundle.reports.map((r) => `${JSON.stringify(r)}\n`).join('');
  const handle = await open(paths(dir).reports, 'a', 0o600);
  await handle.writeFile(lines);
  await handle.close();
  return { kind: 'reports', reports: bundle.reports.length };
}

/** The reports of agents in this isolated segment, as a file to carry to a mirror that reaches the service. */
export async function exportReports(dir: string, config: MirrorConfig, out: string): Promise<number> {
  if (!config.licenseId) throw new MirrorError('the mirror has no license: it has taken no bundle yet');
  const reports = await takeQueuedReports(dir);
  const bundle: ReportsBundle = { kind: REPORTS_KIND, from: config.mirrorId, licenseId: config.licenseId, reports };
  await writeFile(`${out}.partial`, JSON.stringify(bundle));
  await rename(`${out}.partial`, out);
  await rm(`${paths(dir).reports}.sending`, { force: true });
  return reports.length;
}
