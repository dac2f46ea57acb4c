/**
 * One update's conversation with the service: the state, the HTTP client, and the
 * authenticated call with the answers of docs/agent-protocol.md step 7 that concern every
 * call: `401 INVALID_CREDENTIALS` registers again once, a stop is remembered.
 */
import type { AgentOptions } from './client.ts';
import { clientFor } from './client.ts';
import { AgentError } from './errors.ts';
import type { HttpClient } from './http.ts';
import { registerWith } from './register.ts';
import type { AgentState } from './state.ts';
import { readState, recordStop, updateState } from './state.ts';

export class Session {
  constructor(
    readonly dir: string,
    public state: AgentState,
    readonly http: HttpClient,
    readonly options: AgentOptions,
  ) {}

  /** An authenticated API call: re-registers once on INVALID_CREDENTIALS (a reclaimed seat); remembers a stop. */
  async call<T>(path: string, body: unknown): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (!this.state.token) this.state = await registerWith(this.dir, this.state, this.http);
      try {
        return (await this.http.api<T>('POST', `${this.state.server}${path}`, body, this.state.token)).body;
      } catch (error) {
        if (!(error instanceof AgentError)) throw error;
        if (error.code === 'INVALID_CREDENTIALS' && attempt === 0) {
          this.options.log?.('the server no longer knows this agent\'s token (seat reclaimed?): registering again');
          this.state = await registerWith(this.dir, this.state, this.http);
          continue;
        }
        if (error.stops) this.state = await recordStop(this.dir, error);
        throw error;
      }
    }
  }
}

function stoppedError(stop: NonNullable<AgentState['stopped']>): AgentError {
  return new AgentError('STOPPED', `updates are stopped since ${stop.at}: the server answered ${stop.code} (${stop.message}); retrying cannot help until the operator acts, then run \`signet agent register\` again (or \`update --force\`)`);
}

/**
 * The session of an update in `dir`: refused while updates are stopped (unless `force`,
 * which clears the stop); a registration that has not succeeded yet is tried first.
 */
export async function openSession(dir: string, options: AgentOptions, force: boolean): Promise<Session> {
  let state = await readState(dir);
  if (!state) throw new AgentError('NOT_REGISTERED', `no agent in ${dir}: run \`signet agent register\` first`);
  if (state.stopped) {
    if (!force) throw stoppedError(state.stopped);
    state = await updateState(dir, { stopped: undefined });
  }
  const session = new Session(dir, state, await clientFor(state, options), options);
  if (!session.state.token) {
    options.log?.('registering (the last registration did not succeed)');
    session.state = await registerWith(dir, session.state, session.http);
  }
  return session;
}
