/**
 * The service's refusals, as types of the domain. Each has a stable `code`, the one the
 * API puts in its error body and agents act on (docs/agent-protocol.md lists them), and
 * a message for whoever reads it. The domain throws these; how a code is answered over
 * HTTP is decided at the edge, in one table (`errorStatus` in lib/http/errors.ts). Code
 * decides by type or by `code`, never by a message's text.
 */

export type RefusalCode =
  | 'INVALID_REQUEST'
  | 'INVALID_CREDENTIALS'
  | 'LICENSE_INVALID'
  | 'LICENSE_EXPIRED'
  | 'LICENSE_SUSPENDED'
  | 'LICENSE_REVOKED'
  | 'PRODUCT_NOT_ENTITLED'
  | 'COMPUTER_BLACKLISTED'
  | 'AGENT_REVOKED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'REPOSITORY_MOVED_ON'
  | 'SEATS_EXHAUSTED'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'RATE_LIMITED'
  | 'UNAVAILABLE'
  | 'LEASE_EXPIRED';

export class Refusal extends Error {
  constructor(
    readonly code: RefusalCode,
    message: string,
    /** For refusals that pass: when to ask again (RATE_LIMITED, UNAVAILABLE). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A request the service cannot take as sent; names the field, as the contract asks. */
export class InvalidRequest extends Refusal {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super('INVALID_REQUEST', `${field}: ${problem}`);
  }
}

export class InvalidCredentials extends Refusal {
  constructor(message = 'the agent token is not valid') {
    super('INVALID_CREDENTIALS', message);
  }
}

export class LicenseInvalid extends Refusal {
  constructor() {
    super('LICENSE_INVALID', 'the license key is not valid');
  }
}

export class LicenseExpired extends Refusal {
  constructor(readonly expiresAt: string) {
    super('LICENSE_EXPIRED', `the license expired at ${expiresAt}`);
  }
}

export class LicenseSuspended extends Refusal {
  constructor() {
    super('LICENSE_SUSPENDED', 'the license is suspended');
  }
}

export class LicenseRevoked extends Refusal {
  constructor() {
    super('LICENSE_REVOKED', 'the license has been revoked');
  }
}

export class ProductNotEntitled extends Refusal {
  constructor(message: string) {
    super('PRODUCT_NOT_ENTITLED', message);
  }
}

export class ComputerBlacklisted extends Refusal {
  constructor() {
    super('COMPUTER_BLACKLISTED', 'this computer is blacklisted');
  }
}

export class AgentRevoked extends Refusal {
  constructor(readonly agentId: string) {
    super('AGENT_REVOKED', `agent ${agentId} has been revoked by an operator; it stays out until an operator lifts the revocation`);
  }
}

export class SeatsExhausted extends Refusal {
  constructor(readonly seats: number) {
    super('SEATS_EXHAUSTED', `all ${seats} seats of the license are taken`);
  }
}

/** The caller is known but may not do this (an unsigned admin call, metadata signed by the wrong keys). */
export class Forbidden extends Refusal {
  constructor(message: string) {
    super('FORBIDDEN', message);
  }
}

export class NotFound extends Refusal {
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

/** The request contradicts the state it would change (a version already published, a status that does not allow it). */
export class Conflict extends Refusal {
  constructor(message: string) {
    super('CONFLICT', message);
  }
}

/**
 * A release was built on a repository state another publisher has moved past. Its own
 * code, because it is the one conflict a publisher answers by itself: build on the new
 * state, sign again, commit again.
 */
export class RepositoryMovedOn extends Refusal {
  constructor(message: string) {
    super('REPOSITORY_MOVED_ON', message);
  }
}

export class PayloadTooLarge extends Refusal {
  constructor(readonly maxBytes: number) {
    super('PAYLOAD_TOO_LARGE', `the body must be at most ${maxBytes} bytes`);
  }
}

export class UnsupportedMediaType extends Refusal {
  constructor(message: string) {
    super('UNSUPPORTED_MEDIA_TYPE', message);
  }
}

export class RateLimited extends Refusal {
  constructor(retryAfterSeconds: number) {
    super('RATE_LIMITED', `too many requests, retry in ${retryAfterSeconds} s`, retryAfterSeconds);
  }
}

/** Something the service depends on did not answer, or is busy: the same request may work later. */
export class Unavailable extends Refusal {
  constructor(message: string, retryAfterSeconds = 5) {
    super('UNAVAILABLE', message, retryAfterSeconds);
  }
}

/**
 * A site mirror whose license lease ran out (it could not reach the service to renew it):
 * it serves no agent until it can. Not a stop: agents keep retrying.
 */
export class LeaseExpired extends Refusal {
  constructor(expiredAt: string, retryAfterSeconds = 300) {
    super('LEASE_EXPIRED', `this mirror's license lease expired at ${expiredAt}; it serves again once it reaches the service`, retryAfterSeconds);
  }
}
