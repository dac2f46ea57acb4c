/**
 * The Signet reference agent as a library.
 *
 *   register({ dir, server, licenseKey, product, root })  take a seat, prepare the install dir
 *   update({ dir })                                        check, verify, download, install, report
 *   status(dir)                                            the state, without secrets
 *   runDaemon({ dir, signal })                             update every pollSeconds until aborted
 *
 * Errors are AgentErrors with a `code` (the API's, or NETWORK, PROXY_AUTH,
 * PROXY_UNREACHABLE, VERIFICATION_FAILED, STOPPED, ...). docs/agent-protocol.md describes
 * the protocol underneath.
 */
export { AGENT_VERSION } from './client.ts';
export type { AgentOptions } from './client.ts';
export { register } from './register.ts';
export type { RegisterOptions } from './register.ts';
export { update } from './update.ts';
export type { UpdateOptions, UpdateResult } from './update.ts';
export { status } from './status.ts';
export type { AgentStatus } from './status.ts';
export { runDaemon } from './poll-again.ts';
export type { DaemonOptions } from './poll-again.ts';
export { AgentError, STOP_CODES } from './errors.ts';
export { DEFAULT_BACKOFF, backoffDelay, parseRetryAfter, pollDelay } from './backoff.ts';
export type { BackoffPolicy } from './backoff.ts';
export { HttpClient } from './http.ts';
export type { FetchLike, HttpOptions } from './http.ts';
export { parseProxyConf, parseProxyUrl, proxyFor, bypassesProxy } from './proxy.ts';
export type { ProxySettings } from './proxy.ts';
export { readState, statePath, writeFileAtomic } from './state.ts';
export type { AgentState, LastResult } from './state.ts';
export { CURRENT } from './switch.ts';
