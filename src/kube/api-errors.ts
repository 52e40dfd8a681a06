// Maps failures of API server calls to coded errors. AlreadyExists and Conflict share
// HTTP 409; only the Status reason in the body tells them apart.
import { ApiException } from '@kubernetes/client-node';
import { ErrorCodes, LeaseguardError, type ErrorCode } from '../errors.js';

interface StatusBody {
  reason?: string;
  message?: string;
}

function statusBody(body: unknown): StatusBody {
  if (typeof body === 'string') {
    try {
      return statusBody(JSON.parse(body));
    } catch {
      return { message: body.slice(0, 500) };
    }
  }
  return body && typeof body === 'object' ? body : {};
}

function codeFor(status: number, reason: string | undefined): ErrorCode {
  if (status === 409) return reason === 'AlreadyExists' ? ErrorCodes.STORE_ALREADY_EXISTS : ErrorCodes.STORE_CONFLICT;
  if (status === 404) return ErrorCodes.STORE_NOT_FOUND;
  if (status === 401 || status === 403) return ErrorCodes.STORE_FORBIDDEN;
  if (status === 422 || status === 400) return ErrorCodes.STORE_INVALID;
  if (status === 504 || reason === 'Timeout') return ErrorCodes.STORE_TIMEOUT;
  return ErrorCodes.STORE_UNAVAILABLE;
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as { type?: string }).type === 'aborted');
}

/** The outcome label for API latency metrics: the HTTP status, or the kind of failure. */
export function outcomeOf(err: unknown): string {
  if (err instanceof ApiException) return String(err.code);
  if (isAbort(err)) return 'timeout';
  return 'error';
}

export function toStoreError(err: unknown, what: string): LeaseguardError {
  if (err instanceof LeaseguardError) return err;
  if (err instanceof ApiException) {
    const status = Number(err.code);
    const body = statusBody(err.body);
    const detail = body.message ?? (status === 401 ? 'Unauthorized: the credentials were rejected' : `HTTP ${status}`);
    return new LeaseguardError(codeFor(status, body.reason), `${what}: ${detail}`, { statusCode: status, cause: err });
  }
  if (isAbort(err)) {
    return new LeaseguardError(ErrorCodes.STORE_TIMEOUT, `${what}: the API server did not answer before the deadline`, {
      statusCode: 504,
      cause: err,
    });
  }
  const cause = err as { code?: string; message?: string };
  const why = cause.code ? `${cause.code} ${cause.message ?? ''}`.trim() : (cause.message ?? String(err));
  return new LeaseguardError(ErrorCodes.STORE_UNAVAILABLE, `${what}: the API server could not be reached (${why})`, {
    statusCode: 503,
    cause: err,
  });
}

export type ApiObserve = (verb: string, resource: string, outcome: string, seconds: number) => void;

/** Runs one API call, records its latency and maps its failure to a coded error. */
export async function callApi<T>(
  observe: ApiObserve,
  verb: string,
  resource: string,
  what: string,
  fn: () => Promise<T>,
): Promise<T> {
  const start = performance.now();
  try {
    const result = await fn();
    observe(verb, resource, 'ok', (performance.now() - start) / 1000);
    return result;
  } catch (err) {
    observe(verb, resource, outcomeOf(err), (performance.now() - start) / 1000);
    throw toStoreError(err, what);
  }
}
