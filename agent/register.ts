/**
 * Step 1 of docs/agent-protocol.md, register: `POST /v1/agents` takes a seat (or gets this
 * computer's seat again, with a new token), and the install dir is prepared: the state
 * file (0600), the trusted root, and the TUF metadata dir seeded with it.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { AgentOptions } from './client.ts';
import { AGENT_VERSION, clientFor, trimSlash } from './client.ts';
import { AgentError } from './errors.ts';
import type { HttpClient } from './http.ts';
import type { AgentState } from './state.ts';
import { now, readState, recordStop, updateState, writeFileAtomic, writeState } from './state.ts';
import { withoutControlCharacters } from '#lib/http/text.ts';

export const TRUSTED_ROOT = 'trusted-root.json';
export const TUF_DIR = 'tuf';

export interface RegisterOptions extends AgentOptions {
  readonly server: string;
  readonly licenseKey: string;
  readonly product: string;
  readonly channel?: string;
  /** The trusted root.json to install with; optional when the dir already has one. */
  readonly root?: string;
  readonly machineId?: string;
}

/** /etc/machine-id (or the D-Bus one) when there is one. */
async function systemMachineId(): Promise<string | undefined> {
  for (const file of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    const id = (await readFile(file, 'utf8').catch(() => '')).trim();
    if (/^[A-Za-z0-9._:{}-]{1,128}$/.test(id)) return id;
  }
  return undefined;
}

/** POST /v1/agents with the state's registration data; saves the token (or why it failed). */
export async function registerWith(dir: string, state: AgentState, http: HttpClient): Promise<AgentState> {
  // The service refuses control characters in free text; a hostname should have none anyway.
  const host = withoutControlCharacters(osHostname()).trim().slice(0, 253);
  try {
    const answer = await http.api<{ agentId: string; token: string; pollSeconds: number }>('POST', `${state.server}/v1/agents`, {
      licenseKey: state.licenseKey,
      machineId: state.machineId,
      product: state.product,
      os: process.platform,
      arch: process.arch,
      ...(host && { hostname: host }),
      agentVersion: AGENT_VERSION,
    });
    return await updateState(dir, { agentId: answer.body.agentId, token: answer.body.token, pollSeconds: answer.body.pollSeconds, registrationError: undefined, stopped: undefined });
  } catch (error) {
    const failure = error instanceof AgentError ? error : new AgentError('REGISTRATION_FAILED', String(error));
    if (failure.stops) {
      await recordStop(dir, failure);
    } else {
      await updateState(dir, { registrationError: { code: failure.code, message: failure.message, at: now() } });
    }
    throw failure;
  }
}

/**
 * Registers this computer (takes a seat) and prepares the install dir: the state file
 * (0600), the trusted root and the TUF metadata dir seeded with it. Registering again
 * clears a stop and gets a new token; the installed set stays.
 */
export async function register(options: RegisterOptions): Promise<AgentState> {
  const dir = resolve(options.dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await mkdir(join(dir, TUF_DIR), { recursive: true, mode: 0o700 });
  const existing = await readState(dir);
  if (options.root) {
    const bytes = await readFile(options.root).catch(() => {
      throw new AgentError('INVALID_ROOT', `cannot read the trusted root ${options.root}`);
    });
    let parsed: { signed?: { _type?: unknown } };
    try {
      parsed = JSON.parse(bytes.toString('utf8')) as typeof parsed;
    } catch {
      throw new AgentError('INVALID_ROOT', `${options.root} is not JSON`);
    }
    if (parsed.signed?._type !== 'root') throw new AgentError('INVALID_ROOT', `${options.root} is not TUF root metadata`);
    await writeFileAtomic(join(dir, TRUSTED_ROOT), bytes, 0o644);
    const tufRoot = join(dir, TUF_DIR, 'root.json');
    // A metadata dir that already walked to a newer root keeps it (rollback protection).
    if (!(await stat(tufRoot).catch(() => undefined))) await writeFileAtomic(tufRoot, bytes, 0o644);
  } else if (!(await stat(join(dir, TUF_DIR, 'root.json')).catch(() => undefined))) {
    throw new AgentError('INVALID_ROOT', 'no trusted root: pass the root.json to install with (--root FILE)');
  }
  const sameProduct = existing?.product === options.product;
  const state: AgentState = {
    ...(sameProduct ? existing : {}),
    schema: 1,
    server: trimSlash(options.server),
    product: options.product,
    ...(options.channel && { channel: options.channel }),
    machineId: options.machineId ?? existing?.machineId ?? (await systemMachineId()) ?? randomUUID(),
    licenseKey: options.licenseKey,
    trustedRoot: TRUSTED_ROOT,
    ...(options.proxyConf ? { proxyConf: resolve(options.proxyConf) } : existing?.proxyConf ? { proxyConf: existing.proxyConf } : {}),
  };
  // Written before the call: the license key is kept, so a failed registration is retried by the next update.
  const { stopped: _stopped, token: _token, agentId: _agentId, ...fresh } = state;
  await writeState(dir, fresh);
  const http = await clientFor(fresh, options);
  return registerWith(dir, fresh, http);
}
