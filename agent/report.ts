/**
 * Step 6.5 of docs/agent-protocol.md, report: `POST /v1/reports` after an install or a
 * failed attempt. Failure reports count against a rollout: enough of them halt it.
 */
import type { Session } from './session.ts';
import { withoutControlCharacters } from '#lib/http/text.ts';

/** Sends the report; one that cannot be sent is logged, not thrown (the update's outcome stands). */
export async function report(session: Session, version: string, result: 'ok' | 'failed', detail?: string): Promise<void> {
  try {
    await session.call('/v1/reports', { product: session.state.product, ...(session.state.channel && { channel: session.state.channel }), installedVersion: version, result, ...(detail && { detail: withoutControlCharacters(detail).slice(0, 1000) }) });
  } catch (error) {
    session.options.log?.(`could not send the report: ${(error as Error).message}`);
  }
}
