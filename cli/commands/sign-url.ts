/**
 * `signet sign-url URL`: a CloudFront signed URL made with the local stack's CDN key,
 * for trying a target download by hand (curl) against `npm start`.
 */
import type { Command } from 'commander';
import { getSignedUrl } from '@aws-sdk/cloudfront-signer';
import { readLocalCdnKey } from '#lib/cdn/key-files.ts';
import { CliError } from '../errors.ts';
import { dataDirOption } from '../options.ts';

interface SignUrlFlags {
  expiresIn: string;
  dataDir?: string;
  resource?: string;
}

export function registerSignUrl(program: Command): void {
  program
    .command('sign-url')
    .description("sign a URL of the local stack's /targets/ with its CDN key (ECDSA P-256, SHA-256)")
    .argument('<url>', 'the full URL to sign, e.g. http://127.0.0.1:8080/targets/demo-av/<sha256>.<name>')
    .option('--expires-in <seconds>', 'lifetime of the signature', '3600')
    .option('--resource <pattern>', 'sign a custom policy for this resource (wildcards allowed) instead of a canned one')
    .option('--data-dir <dir>', "the local stack's data dir (env SIGNET_DATA_DIR)")
    .action(async (url: string, flags: SignUrlFlags) => {
      const seconds = Number(flags.expiresIn);
      if (!Number.isInteger(seconds) || seconds <= 0) throw new CliError(`--expires-in must be a positive number of seconds, got "${flags.expiresIn}"`);
      try {
        new URL(url);
      } catch {
        throw new CliError(`not a URL: "${url}"`);
      }
      const { keyPairId, privateKeyPem } = await readLocalCdnKey(dataDirOption(flags.dataDir));
      const expires = Math.floor(Date.now() / 1000) + seconds;
      const signer = { keyPairId, privateKey: privateKeyPem, algorithm: 'SHA256' as const };
      const signed = flags.resource
        ? getSignedUrl({
            ...signer,
            url,
            policy: JSON.stringify({ Statement: [{ Resource: flags.resource, Condition: { DateLessThan: { 'AWS:EpochTime': expires } } }] }),
          })
        : getSignedUrl({ ...signer, url, dateLessThan: new Date(expires * 1000) });
      console.log(signed);
    });
}
