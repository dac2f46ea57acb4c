/** A failure of the mirror the operator can act on: one line, said as it is. */
export class MirrorError extends Error {
  override readonly name = 'MirrorError';
}
