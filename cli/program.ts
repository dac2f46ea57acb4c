/** Running a `signet` program: the full one (main.ts) or a site's (site.ts); exit codes and one-line errors alike. */
import { Command, CommanderError } from 'commander';
import { Refusal } from '#lib/errors.ts';
import { ConfigError } from '#lib/config.ts';
import { LocalStackError } from '#local/errors.ts';
import { CliError } from './errors.ts';

/** Parses argv with the commands `register` adds, then exits: 0, or 1 after one line on stderr. */
export async function runProgram(register: ReadonlyArray<(program: Command) => void>): Promise<never> {
  const program = new Command()
    .name('signet')
    .description('Signet: license-controlled, TUF-verified distribution of signature-set updates')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const add of register) add(program);
  try {
    await program.parseAsync(process.argv);
    process.exit(0);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      process.exit(error.exitCode);
    }
    if (error instanceof CliError || error instanceof LocalStackError || error instanceof ConfigError) {
      console.error(`signet: ${error.message}`);
    } else if (error instanceof Refusal) {
      // What the service's own code refused when a command ran it in-process (publish's checks, say).
      console.error(`signet: ${error.code}: ${error.message}`);
    } else {
      console.error(`signet: ${error instanceof Error ? error.message : String(error)}`);
      if (process.env.SIGNET_DEBUG) console.error(error);
      else console.error('(set SIGNET_DEBUG=1 for details)');
    }
    process.exit(1);
  }
}
