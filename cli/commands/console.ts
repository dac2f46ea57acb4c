/**
 * `signet console`: the operator console on loopback. The page's admin calls go through
 * this process, which signs each with the operator's credentials (the admin client's:
 * a local stack's from its data dir, else the standard AWS chain), as `kubectl proxy`
 * does; see docs/console.md.
 */
import type { Command } from 'commander';
import type { AdminClient, ServerFlags } from '../admin-client.ts';
import { adminClient, withServerOptions } from '../admin-client.ts';
import { AdminApiError, CliError } from '../errors.ts';
import { parsePort } from '../options.ts';
import type { Answer } from '#console/server.ts';

interface ConsoleFlags extends ServerFlags {
  port?: string;
  host: string;
  quiet?: boolean;
}

/** One admin call as the page sees it: the API's status and body, its refusals included. */
export async function forward(client: Pick<AdminClient, 'call'>, method: string, path: string, body?: unknown): Promise<Answer> {
  try {
    return { status: 200, body: await client.call<unknown>(method, path, body) };
  } catch (error) {
    if (error instanceof AdminApiError) return { status: error.status, body: { error: { code: error.code, message: error.detail } } };
    // Unreachable server, no credentials: the admin client's one-line reason.
    if (error instanceof CliError) return { status: 502, body: { error: { code: 'BAD_GATEWAY', message: error.message } } };
    throw error;
  }
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function registerConsole(program: Command): void {
  const command = program
    .command('console')
    .description('the operator console: a web page on this machine whose admin calls this process signs with your credentials')
    .option('--port <n>', 'port of the console (0: any free port)', '8181')
    .option('--host <address>', 'loopback address to listen on: 127.0.0.1, ::1 or localhost (it signs with your credentials)', '127.0.0.1')
    .option('--quiet', 'no line per forwarded call');
  withServerOptions(command, { json: false })
    .action(async (flags: ConsoleFlags) => {
      const port = parsePort(flags.port, '--port', 8181);
      if (!LOOPBACK.has(flags.host)) throw new CliError(`--host ${flags.host}: the console signs with your credentials, so it listens on loopback only (127.0.0.1 or ::1)`);
      const client = await adminClient(flags);
      // Loaded here, not at the top: the other commands (and the site package) need none of it.
      const { startConsole } = await import('#console/server.ts');
      const running = await startConsole({
        host: flags.host === 'localhost' ? '127.0.0.1' : flags.host,
        port,
        server: client.server,
        call: (method, path, body) => forward(client, method, path, body),
        ...(!flags.quiet && { log: (line: string) => console.log(`  ${new Date().toISOString()} ${line}`) }),
      }).catch((error: unknown) => {
        const code = (error as { code?: string }).code;
        if (code === 'EADDRINUSE') throw new CliError(`port ${port} is taken: pass --port N (or 0 for any free port)`);
        throw error;
      });
      console.log(`signet console ready: ${running.url}`);
      console.log(`  admin API: ${client.server}, signed with ${client.dataDir ? `the local stack's credentials (${client.dataDir})` : 'your AWS credentials (standard chain)'}`);
      console.log('  open the URL above: it carries this run\'s token, which the console asks of every call');
      console.log('  stop: Ctrl-C');
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      console.log(`signet console: ${signal}, stopping`);
      await running.close();
    });
}
