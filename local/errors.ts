/** A start-up failure the user can fix; `signet local` prints its message on one line and exits 1. */
export class LocalStackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalStackError';
  }
}
