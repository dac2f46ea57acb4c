/** A failure the user can act on: printed as `signet: <message>` on one line, exit 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

/**
 * The admin API refused a call: the status and the contract code it answered with, so a
 * caller decides by code (a publish retries REPOSITORY_MOVED_ON), never by the message.
 */
export class AdminApiError extends CliError {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    call: string,
  ) {
    super(`${call} failed: ${code}: ${detail}`);
    this.name = 'AdminApiError';
  }
}
