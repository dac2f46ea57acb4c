/** Runs the real `signet` command (bin/signet.js) as a child process, as a user would. */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const signetBin = fileURLToPath(new URL('../../bin/signet.js', import.meta.url));

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `bin`: another build of the command, the site package's dist/site/signet.mjs say. */
export function runSignet(args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000, bin = signetBin): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`signet ${args.join(' ')} did not finish in ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface RunningSignet {
  readonly child: ChildProcessWithoutNullStreams;
  readonly readyLine: string;
  readonly baseUrl: string;
  readonly output: () => string;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `signet local ...` and resolves once it prints its ready line. */
export function startSignetLocal(args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 30_000): Promise<RunningSignet> {
  return startSignetServer(['local'], args, env, timeoutMs, signetBin);
}

/** Starts `signet mirror serve ...` and resolves once it prints its ready line. */
export function startSignetMirror(args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 30_000, bin = signetBin): Promise<RunningSignet> {
  return startSignetServer(['mirror', 'serve'], args, env, timeoutMs, bin);
}

/** Starts `signet console ...` and resolves once it prints its ready line (`baseUrl` is the URL with the token). */
export function startSignetConsole(args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 30_000): Promise<RunningSignet> {
  return startSignetServer(['console'], args, env, timeoutMs, signetBin);
}

/** A long-running `signet` command that prints `signet <name> ready: <url>` and a stop hint once it serves. */
function startSignetServer(command: readonly string[], args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, bin: string): Promise<RunningSignet> {
  const ready = `signet ${command[0]} ready: `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...command, ...args], { env });
    let output = '';
    const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no ready line within ${timeoutMs} ms; output:\n${output}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      output += d.toString();
      const line = output.split('\n').find((l) => l.startsWith(ready));
      // The ready block ends with the stop hint; wait for all of it.
      if (!line || !output.includes('stop: Ctrl-C')) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.stdout.on('data', (more: Buffer) => (output += more.toString()));
      resolve({
        child,
        readyLine: line,
        baseUrl: line.slice(ready.length).trim(),
        output: () => output,
        stop: (signal = 'SIGTERM') => {
          child.kill(signal);
          return exited;
        },
      });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`signet ${command.join(' ')} exited with ${code} before it was ready:\n${output}`));
    });
  });
}
