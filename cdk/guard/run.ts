/**
 * `npm run cfn-guard`: AWS Control Tower's proactive controls, as the cfn-guard rules that
 * @cdklabs/cdk-validator-cfnguard ships (with the cfn-guard binary), over every template in
 * cdk.out/ (run `npm run synth` first). Fails on a rule that fails and is not acknowledged
 * in acknowledged.ts, and on an acknowledgment no template needs any more.
 */
import { execFile } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { acknowledged as always, acknowledgedWhen } from './acknowledged.ts';

const pkg = dirname(createRequire(import.meta.url).resolve('@cdklabs/cdk-validator-cfnguard/package.json'));
const binary = join(pkg, 'bin', platform() === 'darwin' ? 'macos' : 'ubuntu', arch() === 'arm64' ? 'aarch64' : 'x86_64', 'cfn-guard');
const rules = join(pkg, 'rules', 'control-tower', 'cfn-guard');

/** The failing rules of one template: `rule name` -> the guard file it is in. */
async function failures(template: string): Promise<Map<string, string>> {
  // cfn-guard exits 19 when a rule fails: the output, not the code, says which.
  const output = await promisify(execFile)(binary, ['validate', '-d', template, '-r', rules, '-S', 'fail'], { maxBuffer: 256 * 1024 * 1024 }).then(
    (done) => done.stdout,
    (error: { stdout?: string; code?: number }) => {
      if (error.code !== 19 || error.stdout === undefined) throw error;
      return error.stdout;
    },
  );
  return new Map([...output.matchAll(/^(\S+\.guard)\/(\S+)\s+FAIL$/gm)].map((m) => [m[2] ?? '', m[1] ?? '']));
}

const dir = process.argv[2] ?? 'cdk.out';
const templates = (await readdir(dir)).filter((f) => f.endsWith('.template.json')).sort();
if (templates.length === 0) throw new Error(`no templates in ${dir}: run npm run synth first`);
const failing = new Map<string, Set<string>>();
for (const template of templates) {
  for (const [rule, file] of await failures(join(dir, template))) {
    if (!failing.has(rule)) failing.set(rule, new Set());
    failing.get(rule)?.add(`${template} (${file})`);
  }
}
// The acknowledgments of this configuration: every unconditional one, and those whose condition its templates meet.
const parsed = await Promise.all(templates.map(async (t) => JSON.parse(await readFile(join(dir, t), 'utf8')) as Parameters<(typeof acknowledgedWhen)[string]['applies']>[0][number]));
const acknowledged: Record<string, string> = { ...always };
for (const [rule, when] of Object.entries(acknowledgedWhen)) if (when.applies(parsed)) acknowledged[rule] = when.reason;
const unacknowledged = [...failing].filter(([rule]) => acknowledged[rule] === undefined);
const stale = Object.keys(acknowledged).filter((rule) => !failing.has(rule));
for (const [rule, where] of unacknowledged) console.error(`FAIL ${rule}: ${[...where].join(', ')}`);
for (const rule of stale) console.error(`STALE acknowledgment ${rule}: no template fails it any more; remove it from cdk/guard/acknowledged.ts`);
console.log(`cfn-guard (AWS Control Tower rules): ${templates.length} templates, ${failing.size} rules failing, all acknowledged: ${unacknowledged.length === 0}`);
process.exit(unacknowledged.length === 0 && stale.length === 0 ? 0 : 1);
