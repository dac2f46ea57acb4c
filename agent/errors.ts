/**
 * What can go wrong for an agent, as one error class. `code` is either the code of the
 * API's error body (`{ "error": { "code", "message" } }`; the table in step 7 of
 * docs/agent-protocol.md says what each means for an agent) or one of the agent's own:
 * NETWORK, PROXY_AUTH, PROXY_UNREACHABLE, PROXY_CONF, VERIFICATION_FAILED,
 * VERSION_ROLLBACK, STOPPED, NOT_REGISTERED, INVALID_ROOT, REGISTRATION_FAILED,
 * INSTALL_FAILED, ABORTED, INTERNAL, and HTTP_<status> for an answer without an error body.
 */

/** Answers after which retrying cannot help: the agent stops until the operator acts. */
export const STOP_CODES: ReadonlySet<string> = new Set(['COMPUTER_BLACKLISTED', 'LICENSE_REVOKED', 'AGENT_REVOKED']);

export class AgentError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** HTTP status, when the error is an answer. */
    readonly status?: number,
    /** Whether trying again later (backoff) may help. */
    readonly retryable = false,
    /** The server's Retry-After, in milliseconds, when it gave one. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'AgentError';
  }

  get stops(): boolean {
    return STOP_CODES.has(this.code);
  }
}
