/** The `signet` command line: one sub-command per file under commands/. */
import { registerLocal } from './commands/local.ts';
import { registerAgent } from './commands/agent.ts';
import { registerConsole } from './commands/console.ts';
import { registerFleet } from './commands/fleet.ts';
import { registerKeys } from './commands/keys.ts';
import { registerLicense } from './commands/license.ts';
import { registerMirror } from './commands/mirror.ts';
import { registerPublish } from './commands/publish.ts';
import { registerSignUrl } from './commands/sign-url.ts';
import { runProgram } from './program.ts';

await runProgram([registerLocal, registerAgent, registerConsole, registerFleet, registerKeys, registerLicense, registerMirror, registerPublish, registerSignUrl]);
