/**
 * Making a binary patch with the zstd command (docs/tuf-repository.md, "Binary patches:
 * the format"): no Node package exposes the `ZSTD_CCtx_refPrefix` that `--patch-from`
 * uses, so publishing runs the CLI on the publisher's machine.
 */
import { spawn } from 'node:child_process';

/** `-3`: `-19` saves 6-7% of a patch for 500-1,100x the make time (measured in the doc). */
export const PATCH_ZSTD_LEVEL = 3;

/** Writes the patch that turns `base` into `target` to `out`; rejects with zstd's message. */
export type Patcher = (base: string, target: string, out: string) => Promise<void>;

function run(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('zstd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/**
 * The zstd CLI as a Patcher, or undefined when there is no `zstd` on the PATH (the
 * publish then goes on without patches: they are an optimisation, never a condition).
 */
export async function zstdPatcher(): Promise<Patcher | undefined> {
  const probe = await run(['--version']).catch(() => undefined);
  if (probe?.code !== 0) return undefined;
  return async (base, target, out) => {
    // Files, never a pipe: the CLI then writes the frame's content size, which the
    // one-pass wasm decoder agents use sizes its output from. No `--long` here: with
    // --patch-from the CLI sizes the window to the file itself; decoders need `--long=31`
    // (windowLogMax) for a window above 128 MiB.
    const result = await run(['-q', '-f', `-${PATCH_ZSTD_LEVEL}`, `--patch-from=${base}`, target, '-o', out]);
    if (result.code !== 0) throw new Error(`zstd --patch-from exited with ${result.code}: ${result.stderr.trim().slice(-300)}`);
  };
}
