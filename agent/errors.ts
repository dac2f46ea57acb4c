/**
 * What can go wrong for an agent, as one error class. `code` is either the code of the
 * API's error body (`{ "error": { "code", "message" } }`; the table in step 7 of
 * docs/agent-protocol.md says what each means for an agent) or one of the agent's own:
 * NETWORK, PROXY_AUTH, PROXY_UNREACHABLE, PROXY_CONF, VERIFICATION_FAILED,
 * VERSION_ROLLBACK, STOPPED, NOT_REGISTERED, INVALID_ROOT, REGISTRATION_FAILED,
 * INSTALL_FAILED, NO_SPACE, DISK_WRITE_FAILED, ABORTED, INTERNAL, and HTTP_<status> for an
 * answer without an error body.
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

/*
 * A disk that refuses the update's writes (docs/agent-protocol.md, "A full disk"): no space
 * left, a quota, a read-only or failing file system. Not the network's failure and not the
 * content's: retrying cannot help until the operator frees space or fixes the disk.
 */
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);
const WRITE_REFUSED = new Set(['EIO', 'EROFS', 'EFBIG', 'EACCES', 'EPERM']);

/** The agent's codes for the two kinds: no space (or quota) left; any other write the disk refused. */
export const DISK_CODES: ReadonlySet<string> = new Set(['NO_SPACE', 'DISK_WRITE_FAILED']);

export interface DiskFailure {
  /** The errno code: ENOSPC, EIO, ... */
  readonly errno: string;
  /** The file or directory written, when the error (or withPath) names it. */
  readonly path?: string;
}

/** What disk failure `error` is, if it is one: a file system error with one of the codes above. */
export function diskFailureOf(error: unknown): DiskFailure | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, path } = error as NodeJS.ErrnoException;
  if (typeof code !== 'string' || !(NO_SPACE.has(code) || WRITE_REFUSED.has(code))) return undefined;
  return { errno: code, ...(typeof path === 'string' && { path }) };
}

/**
 * `error`, naming `path` when it is a disk failure that names none: a write stream's or an
 * fsync's error carries only the file descriptor, and the operator needs the path.
 */
export function withPath(error: unknown, path: string): unknown {
  if (diskFailureOf(error) && (error as NodeJS.ErrnoException).path === undefined) (error as NodeJS.ErrnoException).path = path;
  return error;
}

/** The one-line AgentError for a disk failure; `fallbackPath` when the error names no path. */
export function diskError(failure: DiskFailure, fallbackPath: string): AgentError {
  const path = failure.path ?? fallbackPath;
  if (NO_SPACE.has(failure.errno)) return new AgentError('NO_SPACE', `no space left on the disk holding ${path}: free space, then run again`);
  return new AgentError('DISK_WRITE_FAILED', `cannot write ${path} (${failure.errno}): check the disk and its permissions, then run again`);
}
