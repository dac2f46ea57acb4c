/**
 * The operators' client for the admin API: SigV4-signed JSON calls. Against a local
 * stack (a data dir with admin credentials: --data-dir, SIGNET_DATA_DIR, or ./.signet)
 * it uses that stack's credentials and URL; against the cloud, the standard AWS
 * credential chain and the API endpoint (`--server`, or SIGNET_SERVER).
 *
 * The cloud endpoint is the primary region's API itself (its `ApiEndpoint` output:
 * `https://<primary region>.<apiDomain>` with an API domain, else the execute-api URL), not
 * CloudFront: CloudFront rewrites the Host header on its way to the API, which a SigV4
 * signature covers, and its `/v1/*` may answer from a replica region, which has no admin
 * routes. Sign for the primary region (`--region`).
 */
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { Credentials } from '#lib/aws/sigv4.ts';
import { signRequest } from '#lib/aws/sigv4.ts';
import { adminCredentialsPath, readAdminCredentials } from '#local/admin-credentials.ts';
import { readDemoFile } from '#local/demo.ts';
import { localRegion } from '#local/region.ts';
import { AdminApiError, CliError } from './errors.ts';

export interface ServerFlags {
  server?: string;
  dataDir?: string;
  region?: string;
}

export interface AdminClient {
  readonly server: string;
  /** The local stack's data dir whose credentials this client uses, if any. */
  readonly dataDir: string | undefined;
  call<T>(method: string, path: string, body?: unknown): Promise<T>;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The local stack's data dir this command should use, if any. */
async function localDataDir(flags: ServerFlags): Promise<string | undefined> {
  const explicit = flags.dataDir ?? process.env.SIGNET_DATA_DIR;
  if (explicit) {
    if (!(await exists(adminCredentialsPath(explicit)))) {
      throw new CliError(`${explicit} holds no local admin credentials: start the local stack there first (npm start)`);
    }
    return explicit;
  }
  // `npm start` in this directory: its stack is the one meant, unless --server names another.
  if (await exists(adminCredentialsPath('.signet'))) {
    if (!flags.server) return '.signet';
    const local = (await readDemoFile('.signet'))?.baseUrl;
    if (local && new URL(local).origin === new URL(flags.server).origin) return '.signet';
  }
  return undefined;
}

export async function adminClient(flags: ServerFlags): Promise<AdminClient> {
  if (flags.server !== undefined && !URL.canParse(flags.server)) throw new CliError(`--server: not a URL: "${flags.server}"`);
  const dataDir = await localDataDir(flags);
  let credentials: () => Promise<Credentials>;
  let server = flags.server ?? process.env.SIGNET_SERVER;
  let region: string | undefined;
  if (dataDir) {
    const local = await readAdminCredentials(dataDir);
    credentials = async () => local;
    server ??= (await readDemoFile(dataDir))?.baseUrl;
    // A local stack accepts signatures for its own region only; AWS_REGION describes the cloud.
    if (flags.region !== undefined && flags.region !== localRegion) throw new CliError(`--region ${flags.region}: a local stack accepts signatures for ${localRegion} only`);
    region = localRegion;
  } else {
    region = flags.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
    const chain = defaultProvider();
    credentials = async () => chain();
  }
  if (!server) throw new CliError('no server: pass --server URL (the API endpoint), set SIGNET_SERVER, or --data-dir of a local stack');
  if (!region) throw new CliError('no AWS region for signing: pass --region or set AWS_REGION');
  const base = server.replace(/\/+$/, '');
  const signingRegion = region;

  return {
    server: base,
    dataDir,
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      const url = new URL(`${base}${path}`);
      const text = body === undefined ? undefined : JSON.stringify(body);
      const headers = await signRequest(
        { method, url, headers: text === undefined ? {} : { 'content-type': 'application/json' }, ...(text !== undefined && { body: text }) },
        await credentials().catch((error: unknown) => {
          throw new CliError(`no AWS credentials: ${error instanceof Error ? error.message : String(error)}`);
        }),
        signingRegion,
      );
      let response: Response;
      try {
        response = await fetch(url, { method, headers, ...(text !== undefined && { body: text }) });
      } catch (error) {
        throw new CliError(`cannot reach ${base}: ${(error as { cause?: { code?: string } }).cause?.code ?? String(error)}`);
      }
      const payload = (await response.json().catch(() => undefined)) as { error?: { code: string; message: string } } | undefined;
      if (!response.ok) {
        throw new AdminApiError(response.status, payload?.error?.code ?? `HTTP_${response.status}`, payload?.error?.message ?? `HTTP ${response.status}`, `${method} ${path}`);
      }
      return payload as T;
    },
  };
}

/** The options every command that talks to the admin API takes; `--json` too unless its output is not data (the console's). */
export function withServerOptions(command: Command, { json = true }: { json?: boolean } = {}): Command {
  command
    .option('--server <url>', 'the API endpoint (env SIGNET_SERVER); default: the local stack of --data-dir or ./.signet')
    .option('--data-dir <dir>', "a local stack's data dir: use its admin credentials, keys and URL (env SIGNET_DATA_DIR)")
    .option('--region <region>', 'AWS region of the API, for SigV4 (env AWS_REGION)');
  return json ? command.option('--json', 'print JSON') : command;
}
