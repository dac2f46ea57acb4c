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

export function runSignet(args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [signetBin, ...args], { env });
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
  return startSignetServer(['local', ...args], env, timeoutMs);
}

/**
 * Starts a `signet` command that serves until a signal (`local ...`, `mirror serve ...`)
 * and resolves once it has printed its ready block ("signet <name> ready: URL" ... "stop: Ctrl-C").
 */
export function startSignetServer(args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 30_000): Promise<RunningSignet> {
  const name = `signet ${args[0] ?? ''}`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [signetBin, ...args], { env });
    let output = '';
    const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no ready line within ${timeoutMs} ms; output:\n${output}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      output += d.toString();
      const line = output.split('\n').find((l) => l.startsWith(`${name} ready: `));
      // The ready block ends with the stop hint; wait for all of it.
      if (!line || !output.includes('stop: Ctrl-C')) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.stdout.on('data', (more: Buffer) => (output += more.toString()));
      resolve({
        child,
        readyLine: line,
        baseUrl: line.slice(`${name} ready: `.length).trim(),
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
      reject(new Error(`${name} exited with ${code} before it was ready:\n${output}`));
    });
  });
}
