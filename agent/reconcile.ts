/**
 * After a crash (docs/agent-protocol.md, "After a crash"): the state describes what
 * `current` holds. An install switches `current` first, then writes the state (with the
 * report pending), then removes the old sets, then reports; a stop between any two of
 * these leaves `current` right (it is renamed atomically) and the state behind it, or
 * the cleanup and the report undone. At the start of every update `reconcile` rebuilds
 * the state from `current` when they disagree, and `finishPending` does what is undone.
 */
import { createReadStream } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TargetFile } from 'tuf-js';
import { AgentError, diskFailureOf } from './errors.ts';
import { TUF_DIR } from './register.ts';
import { report } from './report.ts';
import type { Session } from './session.ts';
import { now, readState, updateState } from './state.ts';
import { CURRENT, collectGarbage, currentSet, safeSetPath } from './switch.ts';
import { crashPoint } from './test-hooks.ts';
import { signedSetInfo, storedSet } from './verify.ts';
import { parseRoot, parseTargets, verifyRole } from '#lib/tuf/metadata.ts';

type Log = ((line: string) => void) | undefined;

/**
 * The targets the agent trusted at its last refresh: `tuf/targets.json` as tuf-js kept it,
 * signed by the targets keys of the trusted root it walked to. Not checked for expiry: it
 * says what the agent verified when it installed, not what it may install now.
 */
async function trustedTargets(dir: string): Promise<Record<string, TargetFile>> {
  const root = parseRoot(await readFile(join(dir, TUF_DIR, 'root.json'))).signed;
  const targets = parseTargets(await readFile(join(dir, TUF_DIR, 'targets.json')));
  if (!verifyRole(root, 'targets', targets)) throw new AgentError('VERIFICATION_FAILED', `${TUF_DIR}/targets.json is not signed by the trusted root's targets keys`);
  return targets.signed.targets;
}

/** A set verified offline, from the trusted targets and the store (no network: a crash may be all that happened). */
interface TrustedSet {
  readonly version: string;
  readonly setManifest: string;
  readonly files: Awaited<ReturnType<typeof storedSet>>['files'];
  readonly targets: ReadonlyMap<string, TargetFile>;
  /** What the store keeps for it: the set manifest and every file. */
  readonly keep: ReadonlySet<string>;
}

/** The set of `product` `version` as the trusted targets sign it and the store holds its manifest, checked as an update checks it (agent/verify.ts). */
async function trustedSet(dir: string, product: string, version: string): Promise<TrustedSet> {
  const targets = await trustedTargets(dir);
  const named = Object.values(targets).find((t) => {
    const custom = t.custom as { product?: unknown; kind?: unknown; version?: unknown };
    return custom.product === product && custom.kind === 'set' && custom.version === version;
  });
  if (!named) throw new AgentError('VERIFICATION_FAILED', `the trusted targets metadata names no set of ${product} ${version}`);
  const lookup = async (path: string): Promise<TargetFile> => {
    const info = targets[path];
    if (!info) throw new AgentError('VERIFICATION_FAILED', `${path} is not in the trusted targets metadata`);
    return info;
  };
  const manifest = { product, version, setManifest: named.path };
  const set = await storedSet(dir, manifest, await signedSetInfo(manifest, lookup), lookup);
  return { version, setManifest: named.path, files: set.files, targets: set.targets, keep: new Set([set.sha256, ...set.files.map((f) => f.sha256)]) };
}

/** The version a set directory is named for: `sets/<version>-<8 hex>` (switch.ts). Only a claim, verified next. */
function versionOf(setPath: string): string {
  const version = /^sets\/(.+)-[0-9a-f]{8}$/.exec(setPath)?.[1];
  if (!version) throw new AgentError('VERIFICATION_FAILED', `${setPath} is not the name of an installed set`);
  return version;
}

/** The set `current` holds, verified whole: its manifest as above, and every file in it of the signed length and hash. */
async function verifyCurrent(dir: string, product: string, setPath: string): Promise<TrustedSet> {
  const set = await trustedSet(dir, product, versionOf(setPath));
  for (const file of set.files) {
    const info = set.targets.get(file.sha256) as TargetFile;
    await info.verify(createReadStream(join(dir, setPath, safeSetPath(file.path)))).catch((error: unknown) => {
      throw diskFailureOf(error) ? error : new AgentError('VERIFICATION_FAILED', `${setPath}/${file.path} does not match the signed targets metadata`);
    });
  }
  return set;
}

/**
 * When `current` names another set than the state's `installed` (a crash after the switch,
 * before the state was written): the state is rebuilt from `current`, once it verifies,
 * with its `ok` report pending. A `current` that does not verify is not recorded as
 * installed: the state forgets its install, and this update installs the offered version
 * in its place. Nothing to do when they agree, or when nothing was ever switched in.
 */
export async function reconcile(dir: string, log: Log): Promise<void> {
  const state = await readState(dir);
  const current = await currentSet(dir);
  if (!state || current === undefined || current === state.installed?.path) return;
  let set: TrustedSet;
  try {
    set = await verifyCurrent(dir, state.product, current);
  } catch (error) {
    if (!(error instanceof AgentError)) throw error; // the disk, not the set: try again next time
    await updateState(dir, { installed: undefined, pendingReport: undefined, lastResult: { at: now(), result: 'failed', detail: `current (${current}) is not what the state says and does not verify: ${error.message}` } });
    log?.(`current (${current}) is not what the state says and does not verify (${error.message}): installing again`);
    return;
  }
  // The switch's own time: when the link was renamed into place.
  const installedAt = (await lstat(join(dir, CURRENT))).mtime.toISOString();
  await updateState(dir, { installed: { version: set.version, path: current, setManifest: set.setManifest, installedAt }, pendingReport: { version: set.version }, lastResult: { at: now(), result: 'ok', version: set.version } });
  log?.(`current holds ${set.version}, which the state did not say (an earlier run stopped after the switch): the state now says it, verified`);
}

/**
 * The last steps of an install: the removal of the other sets and of the store entries
 * the installed set does not use (best effort: what stays goes at the next install; none
 * when `cleanup` is undefined), then the `ok` report, whose `pendingReport` is cleared
 * once it is sent (or refused for good).
 */
export async function finishInstall(session: Session, cleanup: { readonly setPath: string; readonly keep: ReadonlySet<string> } | undefined): Promise<void> {
  if (cleanup) await collectGarbage(session.dir, cleanup.setPath, cleanup.keep).catch((error: unknown) => session.options.log?.(`could not remove the sets no longer installed: ${(error as Error).message}`));
  crashPoint('after-cleanup');
  const version = session.state.pendingReport?.version;
  if (version === undefined || !(await report(session, version, 'ok'))) return;
  try {
    session.state = await updateState(session.dir, { pendingReport: undefined });
  } catch (error) {
    session.options.log?.(`could not record that the report was sent (${(error as Error).message}): the next update sends it again`);
  }
}

/** What a crash (or the network) left undone of the last install: its cleanup and its report. */
export async function finishPending(session: Session): Promise<void> {
  const { installed, pendingReport } = session.state;
  if (!pendingReport) return;
  if (installed?.version !== pendingReport.version) {
    session.state = await updateState(session.dir, { pendingReport: undefined }); // not what is installed: nothing to report
    return;
  }
  session.options.log?.(`finishing the install of ${installed.version} that an earlier run left undone`);
  const set = await trustedSet(session.dir, session.state.product, installed.version).catch((error: unknown) => {
    if (!(error instanceof AgentError)) throw error;
    session.options.log?.(`cannot tell which store entries the installed set uses (${error.message}): leaving them`);
    return undefined;
  });
  await finishInstall(session, set && { setPath: installed.path, keep: set.keep });
}
