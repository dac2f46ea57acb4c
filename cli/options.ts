/** Option parsing shared by the commands: flags first, then the environment, then defaults. */
import { CliError } from './errors.ts';

export function parsePort(value: string | undefined, source: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const port = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new CliError(`${source} must be a port number from 0 to 65535, got "${value}"`);
  }
  return port;
}

export function dataDirOption(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.SIGNET_DATA_DIR ?? '.signet';
}
