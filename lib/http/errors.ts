/**
 * Errors at the HTTP edge: the one table that says which status answers which code, and
 * the contract's error body, `{ error: { code, message } }`. Domain refusals
 * (lib/errors.ts) are mapped here and nowhere else; the codes below the refusals' are the
 * edge's own (a parse error, a wrong method, a range), answered before any domain code runs.
 */
import type { Refusal, RefusalCode } from '#lib/errors.ts';

export const errorStatus = {
  INVALID_REQUEST: 400,
  INVALID_CREDENTIALS: 401,
  LICENSE_INVALID: 401,
  LICENSE_EXPIRED: 403,
  LICENSE_SUSPENDED: 403,
  LICENSE_REVOKED: 403,
  PRODUCT_NOT_ENTITLED: 403,
  COMPUTER_BLACKLISTED: 403,
  AGENT_REVOKED: 403,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  CONFLICT: 409,
  REPOSITORY_MOVED_ON: 409,
  SEATS_EXHAUSTED: 409,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RANGE_NOT_SATISFIABLE: 416,
  RATE_LIMITED: 429,
  HEADERS_TOO_LARGE: 431,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  LEASE_EXPIRED: 503,
} as const satisfies Record<RefusalCode, number> & Record<string, number>;

export type ErrorCode = keyof typeof errorStatus;

export interface ErrorBody {
  readonly error: { readonly code: ErrorCode; readonly message: string };
}

export function errorBody(code: ErrorCode, message: string): ErrorBody {
  return { error: { code, message } };
}

/** A refusal as an HTTP answer: its status, its body, and `Retry-After` when it says when. */
export function refusalResponse(refusal: Refusal): { status: number; body: ErrorBody; headers: Record<string, string> } {
  return {
    status: errorStatus[refusal.code],
    body: errorBody(refusal.code, refusal.message),
    headers: refusal.retryAfterSeconds === undefined ? {} : { 'retry-after': String(refusal.retryAfterSeconds) },
  };
}
