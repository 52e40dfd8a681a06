// Every error leaseguard raises carries a code from this table, so callers branch on
// `err.code`, never on message text.

export const ErrorCodes = {
  /** Configuration file or environment is invalid; the process refuses to start. */
  CONFIG_INVALID: 'LG_CONFIG_INVALID',
  /** The Lease already exists (create lost the race). */
  STORE_ALREADY_EXISTS: 'LG_STORE_ALREADY_EXISTS',
  /** resourceVersion or uid precondition failed (update/delete lost the race). */
  STORE_CONFLICT: 'LG_STORE_CONFLICT',
  /** The Lease or object does not exist. */
  STORE_NOT_FOUND: 'LG_STORE_NOT_FOUND',
  /** The API server refused the identity (401/403): RBAC or credentials. */
  STORE_FORBIDDEN: 'LG_STORE_FORBIDDEN',
  /** The API server did not answer in time. */
  STORE_TIMEOUT: 'LG_STORE_TIMEOUT',
  /** The API server could not be reached or failed (connection error, 5xx, 429). */
  STORE_UNAVAILABLE: 'LG_STORE_UNAVAILABLE',
  /** The API server rejected the object as invalid (a bug or a hostile edit). */
  STORE_INVALID: 'LG_STORE_INVALID',
  /**
   * The lock's Lease declares a format this version cannot read (written by a later
   * release): the lock cannot be verified, so the create is refused, whatever failOpen says.
   */
  LEASE_FORMAT_UNSUPPORTED: 'LG_LEASE_FORMAT_UNSUPPORTED',
  /** Lock acquisition kept losing compare-and-swap races. */
  LOCK_CONTENDED: 'LG_LOCK_CONTENDED',
  /** An HTTP request to the webhook was not a well-formed AdmissionReview. */
  BAD_REQUEST: 'LG_BAD_REQUEST',
  /** TLS material is missing or unreadable. */
  TLS_INVALID: 'LG_TLS_INVALID',
  /** An admission caller presented no client certificate, or one the client CA did not sign. */
  CALLER_UNAUTHENTICATED: 'LG_CALLER_UNAUTHENTICATED',
  /** An admission caller's certificate is valid but its subject is not an allowed one. */
  CALLER_FORBIDDEN: 'LG_CALLER_FORBIDDEN',
  /** leaseguard holds as many locks as it may (embeddedMaxLocks, maxLeases); new keys fail closed. */
  STORE_FULL: 'LG_STORE_FULL',
  /** A command line was used wrongly (its arguments, a kind that is not guarded): exit code 2. */
  USAGE: 'LG_USAGE',
  /** A command line ran and could not do what it was asked (a lock not found, a refusal): exit code 1. */
  COMMAND_FAILED: 'LG_COMMAND_FAILED',
  /** `leaseguard selftest` got no verdict from leaseguard (something else answered, or nothing). */
  SELFTEST_FAILED: 'LG_SELFTEST_FAILED',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class LeaseguardError extends Error {
  readonly code: ErrorCode;
  /** HTTP status to answer with, where the error reaches an HTTP caller. */
  readonly statusCode: number;

  constructor(code: ErrorCode, message: string, options: { statusCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LeaseguardError';
    this.code = code;
    this.statusCode = options.statusCode ?? 500;
  }
}

/**
 * Whether `err` is a LeaseguardError with `code`. The guard names the code, so where it
 * fails the error may still be a LeaseguardError (with another code), not `never`.
 */
export function hasCode<C extends ErrorCode>(err: unknown, code: C): err is LeaseguardError & { readonly code: C } {
  return err instanceof LeaseguardError && err.code === code;
}

/** Store failures that mean "could not verify the lock": the caller must fail closed. */
const UNVERIFIABLE: ReadonlySet<ErrorCode> = new Set([
  ErrorCodes.STORE_FORBIDDEN,
  ErrorCodes.STORE_TIMEOUT,
  ErrorCodes.STORE_UNAVAILABLE,
  ErrorCodes.STORE_INVALID,
  ErrorCodes.LOCK_CONTENDED,
  ErrorCodes.STORE_FULL,
]);

export function isUnverifiable(err: unknown): err is LeaseguardError {
  return err instanceof LeaseguardError && UNVERIFIABLE.has(err.code);
}

/**
 * Failures that say this replica cannot reach the API server now (no answer in time, no
 * connection, a 5xx or 429), as opposed to an answer that refuses (403, 422): readiness
 * follows the first kind only, since another replica may reach the API server where this
 * one cannot, but every replica gets the same refusal.
 */
export function isUnreachable(err: unknown): err is LeaseguardError {
  return (
    err instanceof LeaseguardError &&
    (err.code === ErrorCodes.STORE_TIMEOUT || err.code === ErrorCodes.STORE_UNAVAILABLE)
  );
}

export function configError(message: string): LeaseguardError {
  return new LeaseguardError(ErrorCodes.CONFIG_INVALID, message);
}

export function badRequest(statusCode: number, message: string): LeaseguardError {
  return new LeaseguardError(ErrorCodes.BAD_REQUEST, message, { statusCode });
}

export function usageError(message: string): LeaseguardError {
  return new LeaseguardError(ErrorCodes.USAGE, message);
}

export function commandFailed(message: string): LeaseguardError {
  return new LeaseguardError(ErrorCodes.COMMAND_FAILED, message);
}
