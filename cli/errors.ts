/** A failure the user can act on: printed as `signet: <message>` on one line, exit 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}
