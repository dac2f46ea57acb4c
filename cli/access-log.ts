/** The `--access-log FILE` of `signet local` and `signet mirror serve`: one line per request, appended. */
import { createWriteStream } from 'node:fs';
import { CliError } from './errors.ts';

export interface AccessLogFile {
  readonly write: (line: string) => void;
  /** Resolves once every line written so far is in the file. */
  readonly close: () => Promise<void>;
}

/**
 * The `--access-log` file, opened for appending (a restart adds to it) before anything
 * starts, so a path that cannot be written fails at once, in one line.
 */
export async function openAccessLog(file: string, command = 'signet'): Promise<AccessLogFile> {
  const stream = createWriteStream(file, { flags: 'a' });
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (error) => reject(new CliError(`cannot open the access log: ${error.message}`)));
  });
  let failed = false;
  stream.on('error', (error) => {
    // A full disk must not take the stack down: say so once, and log no more.
    if (!failed) console.error(`${command}: writing the access log failed, no more lines go to it: ${error.message}`);
    failed = true;
  });
  return {
    write: (line) => {
      if (!failed) stream.write(`${line}\n`);
    },
    close: () => new Promise((resolve) => stream.end(() => resolve())),
  };
}

