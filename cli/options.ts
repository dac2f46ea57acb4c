/** Option parsing shared by the commands: flags first, then the environment, then defaults. */
import { readFile } from 'node:fs/promises';
import { Option } from 'commander';
import { CliError } from './errors.ts';

/**
 * Digits only, from `min` to `max`: `Number()` alone would take ` 5`, `1e3` or `0x10`.
 * `what` names the kind of number in the one-line error ("a port number").
 */
export function parseWholeNumber(value: string, source: string, what: string, min: number, max: number): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < min || number > max) {
    throw new CliError(`${source} must be ${what} from ${min} to ${max}, got "${value}"`);
  }
  return number;
}

export function parsePort(value: string | undefined, source: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  return parseWholeNumber(value, source, 'a port number', 0, 65535);
}

export function dataDirOption(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.SIGNET_DATA_DIR ?? '.signet';
}

/**
 * The license key from `--license KEY` or `--license-file FILE` (a service manager's
 * credential, say: a key on a command line shows in `ps`). Undefined when neither is given.
 */
export async function licenseKeyFrom(flags: { license?: string; licenseFile?: string }): Promise<string | undefined> {
  if (flags.license !== undefined && flags.licenseFile !== undefined) throw new CliError('--license and --license-file: give one');
  if (flags.licenseFile === undefined) return flags.license;
  const text = await readFile(flags.licenseFile, 'utf8').catch(() => {
    throw new CliError(`cannot read the license file ${flags.licenseFile}`);
  });
  const key = text.trim();
  if (key === '' || key.includes('\n')) throw new CliError(`${flags.licenseFile} must hold the license key alone, on one line`);
  return key;
}

/** An option that falls back to an environment variable (shown in --help): what a systemd unit or a container sets. */
export function envOption(flags: string, description: string, variable: string, fallback?: string): Option {
  const option = new Option(flags, description).env(variable);
  return fallback === undefined ? option : option.default(fallback);
}
