/** One progress line on a terminal's stderr (nothing when stderr is not a terminal): downloads, uploads, syncs. */
export interface Progress {
  readonly files: number;
  readonly totalFiles: number;
  readonly bytes: number;
  readonly totalBytes: number;
}

export function terminalProgress(verb: string): ((progress: Progress) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  const mb = (n: number) => (n / 1e6).toFixed(1);
  return ({ files, totalFiles, bytes, totalBytes }) => {
    process.stderr.write(`\r  ${verb} ${files}/${totalFiles} files, ${mb(bytes)}/${mb(totalBytes)} MB   `);
    if (files === totalFiles) process.stderr.write('\n');
  };
}
