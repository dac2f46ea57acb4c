/**
 * Scheduled: re-signs timestamp.json well before it expires (it is valid for a day; this
 * runs every hour), so agents can tell a live repository from a frozen or replayed one.
 */
import { refreshTimestamp } from '#lib/releases/repository.ts';
import { repositoryDeps } from '#lib/releases/service.ts';

const deps = await repositoryDeps();

export const handler = async (): Promise<{ timestampVersion: number | null }> => {
  const result = await refreshTimestamp(deps);
  console.log(JSON.stringify({ level: 'info', message: 'timestamp refreshed', timestampVersion: result?.timestampVersion ?? null }));
  return { timestampVersion: result?.timestampVersion ?? null };
};
