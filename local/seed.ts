/**
 * First-start seeding. Each step has a stable name; a step that completed is recorded
 * in DATA_DIR/seeded.json and never runs again. A start interrupted halfway simply
 * runs the unrecorded steps again on the next start, so every step must be idempotent
 * (create-if-absent). A step added by a later release runs once on existing data dirs.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Services } from '#lib/services.ts';
import { writeFileAtomic } from '#lib/files.ts';

export interface SeedContext {
  readonly dataDir: string;
  readonly baseUrl: string;
  readonly log: (line: string) => void;
  /** The stack's services as function `functionId` sees them: a step uses what that function would. */
  readonly services: (functionId: string) => Services;
}

export interface SeedStep {
  readonly name: string;
  run(context: SeedContext): Promise<void>;
}

interface SeedRecord {
  readonly completed: Record<string, string>; // step name → ISO time it completed
}

const recordFile = (dataDir: string) => join(dataDir, 'seeded.json');

async function readRecord(dataDir: string): Promise<SeedRecord> {
  try {
    const parsed = JSON.parse(await readFile(recordFile(dataDir), 'utf8')) as Partial<SeedRecord>;
    return { completed: { ...(parsed.completed ?? {}) } };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { completed: {} };
    throw error;
  }
}

/** Runs, in order, the steps not yet recorded; returns the names it ran. */
export async function runSeedSteps(steps: readonly SeedStep[], context: SeedContext): Promise<string[]> {
  const record = await readRecord(context.dataDir);
  const ran: string[] = [];
  for (const step of steps) {
    if (record.completed[step.name]) continue;
    await step.run(context);
    record.completed[step.name] = new Date().toISOString();
    await writeFileAtomic(recordFile(context.dataDir), `${JSON.stringify(record, null, 2)}\n`);
    ran.push(step.name);
  }
  return ran;
}
