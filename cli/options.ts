/** Option parsing shared by the commands: flags first, then the environment, then defaults. */
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
