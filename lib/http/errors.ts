/**
 * The contract's error codes (CONTRACT.md), one class for all of them. A handler throws
 * an `ApiError`; the error middleware turns it into `{ error: { code, message } }` with
 * its status. Anything else that escapes a handler is a bug and becomes a generic 500.
 */

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
  SEATS_EXHAUSTED: 409,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RANGE_NOT_SATISFIABLE: 416,
  RATE_LIMITED: 429,
  HEADERS_TOO_LARGE: 431,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export interface ErrorBody {
  readonly error: { readonly code: ErrorCode; readonly message: string };
}

export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra response headers, e.g. `Retry-After` for 429 and 503. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = errorStatus[code];
    this.headers = headers;
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}

/** 400 that names the offending field, as the contract asks. */
export function invalidRequest(field: string, problem: string): ApiError {
  return new ApiError('INVALID_REQUEST', `${field}: ${problem}`);
}

/** 503 with a Retry-After, for a downstream (DynamoDB, S3, KMS) that did not answer. */
export function unavailable(what: string, retryAfterSeconds = 5): ApiError {
  return new ApiError('UNAVAILABLE', `${what} is unavailable, retry later`, {
    'retry-after': String(retryAfterSeconds),
  });
}
