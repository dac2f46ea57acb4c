import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readDemoFile } from '#local/demo.ts';
import { GRANT_LIFETIME_SECONDS } from './global-setup.ts';
import { stackInfo } from '#test/support/licensing.ts';

const script = fileURLToPath(new URL('../e2e/curl-flow.sh', import.meta.url));

describe('the agent path with curl only', () => {
  it('registers, gets a manifest, downloads verified targets with the grant, and is refused with a changed signature, a foreign path or an expired grant', async () => {
    const { baseUrl, dataDir } = stackInfo();
    const demo = await readDemoFile(dataDir);
    if (!demo) throw new Error('no demo.json');
    const cwd = await mkdtemp(join(tmpdir(), 'signet-curl-'));
    try {
      const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
        const child = spawn('bash', [script, baseUrl, demo.licenseKey, demo.product, String(GRANT_LIFETIME_SECONDS)], { cwd });
        let output = '';
        child.stdout.on('data', (d: Buffer) => (output += d.toString()));
        child.stderr.on('data', (d: Buffer) => (output += d.toString()));
        child.on('close', (exitCode) => resolve({ code: exitCode, output }));
      });
      expect(output).toContain('ok: changed signature, foreign product and expired grant refused');
      expect(code).toBe(0);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });
});
