/**
 * Step 6.5 of docs/agent-protocol.md, report: `POST /v1/reports` after an install or a
 * failed attempt. Failure reports count against a rollout: enough of them halt it.
 */
import { AgentError } from './errors.ts';
import type { Session } from './session.ts';
import { withoutControlCharacters } from '#lib/http/text.ts';

/**
 * Sends the report; one that cannot be sent is logged, not thrown (the update's outcome
 * stands). False when sending it again later may succeed (the network, the server busy);
 * true once it was sent, or refused for good (sending it again would be refused again).
 */
export async function report(session: Session, version: string, result: 'ok' | 'failed', detail?: string): Promise<boolean> {
  try {
    await session.call('/v1/reports', { product: session.state.product, ...(session.state.channel && { channel: session.state.channel }), installedVersion: version, result, ...(detail && { detail: withoutControlCharacters(detail).slice(0, 1000) }) });
    return true;
  } catch (error) {
    session.options.log?.(`could not send the report: ${(error as Error).message}`);
    return error instanceof AgentError && !(error.retryable || error.code === 'NETWORK' || error.code.startsWith('PROXY'));
  }
}
