/** A failure of the mirror the operator can act on: one line, said as it is. */
export class MirrorError extends Error {
  override readonly name = 'MirrorError';
}

/** What an operator does about a file system refusal, by its code. */
const FILE_SYSTEM_ADVICE: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the disk holding it: free space (or move --data-dir), then run again',
  EDQUOT: 'the disk quota is used up: free space, then run again',
  EROFS: 'the file system is read-only: give the mirror a writable --data-dir',
  EACCES: 'permission denied: run the mirror as the user that owns its data dir',
  EPERM: 'permission denied: run the mirror as the user that owns its data dir',
  EIO: 'the disk failed to read or write it: check the disk',
};

/**
 * A file system failure as one line naming the file and what to do (Node's own message
 * for ENOSPC names no path), or undefined for any other error.
 */
export function fileSystemFailure(error: unknown, dir?: string): MirrorError | undefined {
  const errno = error as NodeJS.ErrnoException | undefined;
  const advice = typeof errno?.code === 'string' ? FILE_SYSTEM_ADVICE[errno.code] : undefined;
  if (!advice) return undefined;
  const where = errno?.path ?? dir;
  return new MirrorError(`${where ? `cannot write ${where}` : 'a write to the data dir failed'}: ${advice}`);
}

/** The one line a failure is recorded and printed as; `dir` is named when the error names no file (a write's ENOSPC). */
export function failureLine(error: unknown, dir?: string): string {
  return fileSystemFailure(error, dir)?.message ?? (error instanceof Error ? error.message : String(error));
}
