/**
 * `signet` as a site installs it: the agent and the mirror only, the commands a site's
 * machines run. Bundled into one file (`npm run build:site`, deploy/build-site.ts) that
 * needs nothing but Node: no local stack, no AWS SDK for the cloud side, no dev tools.
 */
import { registerAgent } from './commands/agent.ts';
import { registerMirror } from './commands/mirror.ts';
import { runProgram } from './program.ts';

await runProgram([registerAgent, registerMirror]);
