/** `signet local` (= `npm start`): runs the local stack in the foreground until Ctrl-C. */
import { join } from 'node:path';
import type { Command } from 'commander';
import { runtimeSettingsFromEnv } from '#lib/config.ts';
import { openAccessLog } from '../access-log.ts';
import { startLocalStack } from '#local/stack.ts';
import { dataDirOption, parsePort, parseWholeNumber } from '../options.ts';

interface LocalFlags {
  port?: string;
  host: string;
  dataDir?: string;
  fresh?: boolean;
  quiet?: boolean;
  timestampEvery?: string;
  accessLog?: string;
}

/**
 * At most a third of the timestamp's lifetime, the rule the cloud's config applies, so two
 * missed refreshes in a row do not let timestamp.json expire under the agents; and at most a
 * day (the cloud's limit, and well inside what a Node timer can hold). Without the flag, the
 * stack's default: hourly, as in the cloud.
 */
function timestampEverySeconds(flag: string | undefined, expiryHours: number): number | undefined {
  if (flag === undefined) return undefined;
  return parseWholeNumber(flag, '--timestamp-every', 'a whole number of seconds', 1, Math.min(86_400, (expiryHours * 3600) / 3));
}

export function registerLocal(program: Command): void {
  program
    .command('local')
    .description('run the whole backend on this machine (DynamoDB Local, local S3, the CloudFront-like origin)')
    .option('--port <n>', 'port of the origin (env SIGNET_PORT)', undefined)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--data-dir <dir>', 'where data is kept across restarts (env SIGNET_DATA_DIR)', undefined)
    .option('--fresh', 'delete the data dir first and start empty')
    .option('--quiet', 'no request and event lines on stdout')
    .option('--access-log <file>', 'append one line per request: ISO time, method, path (no query), status, body bytes, ms')
    .option('--timestamp-every <seconds>', 're-sign timestamp.json this often (default 3600, as in the cloud; at most a third of SIGNET_TIMESTAMP_EXPIRY_HOURS)')
    .action(async (flags: LocalFlags) => {
      const port = flags.port !== undefined
        ? parsePort(flags.port, '--port', 8080)
        : parsePort(process.env.SIGNET_PORT, 'SIGNET_PORT', 8080);
      // The same variables a Lambda function reads (lib/config.ts): SIGNET_POLL_SECONDS, ...
      const runtime = runtimeSettingsFromEnv(process.env);
      const timestampRefreshSeconds = timestampEverySeconds(flags.timestampEvery, runtime.timestampExpiryHours);
      const accessLog = flags.accessLog === undefined ? undefined : await openAccessLog(flags.accessLog, 'signet local');
      // Signals are handled from the first moment, so a Ctrl-C during start-up also ends
      // in a clean stop (once the services that are starting have come up).
      let stopRequested: (signal: NodeJS.Signals) => void = () => undefined;
      const stopSignal = new Promise<NodeJS.Signals>((resolve) => (stopRequested = resolve));
      let signalled = false;
      const onSignal = (signal: NodeJS.Signals) => {
        if (signalled) {
          console.error(`signet local: ${signal} again, exiting without a clean stop`);
          process.exit(130);
        }
        signalled = true;
        stopRequested(signal);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);

      const started = Date.now();
      const stack = await startLocalStack({
        port,
        host: flags.host,
        dataDir: dataDirOption(flags.dataDir),
        fresh: flags.fresh === true,
        runtime,
        timestampRefreshSeconds,
        log: flags.quiet ? undefined : (line) => console.log(`  ${new Date().toISOString()} ${line}`),
        accessLog: accessLog?.write,
      }).catch(async (error: unknown) => {
        await accessLog?.close(); // the lines of requests answered while starting
        throw error;
      });
      if (!signalled) {
        console.log(`signet local ready: ${stack.baseUrl}`);
        console.log(`  started in ${((Date.now() - started) / 1000).toFixed(1)} s; data in ${stack.dataDir}${stack.seeded.length > 0 ? ` (first start: ${stack.seeded.join(', ')})` : ''}`);
        console.log(`  local AWS endpoints: s3 ${stack.s3Endpoint} dynamodb ${stack.dynamodbEndpoint} (access key S3RVER, secret S3RVER)`);
        console.log(`  try:  curl ${stack.baseUrl}/v1/health`);
        console.log(`  demo: license key, product, channel and trusted root in ${join(stack.dataDir, 'demo.json')}`);
        console.log(`        npx signet license show <key>   npx signet fleet --product demo-av   npx signet publish --help`);
        console.log(`  console: npx signet console --data-dir ${stack.dataDir}   (the operator console in your browser: it prints its URL)`);
        console.log('  stop: Ctrl-C');
      }

      const signal = await stopSignal;
      console.log(`signet local: ${signal}, stopping`);
      await stack.stop().catch((error: unknown) => console.error(`signet local: stop failed: ${String(error)}`));
      await accessLog?.close();
      console.log('signet local: stopped');
    });
}
