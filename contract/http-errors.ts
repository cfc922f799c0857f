/**
 * Errors as both Hono apps (the edge and the function) answer them: an ApiError as it is, Hono's
 * own HTTPException (body limit, bearer auth, malformed input) mapped onto the shared codes, and
 * the Retry-After value an ApiError asks for. Anything else is the caller's 500 to log.
 */
import { HTTPException } from 'hono/http-exception';
import { ApiError } from './errors.ts';

export function toApiError(error: unknown): ApiError | undefined {
  if (error instanceof ApiError) return error;
  if (error instanceof HTTPException) {
    if (error.status === 413) return new ApiError('payload_too_large', error.message || 'request body too large');
    if (error.status === 400) return new ApiError('invalid_parameters', error.message || 'malformed request');
    if (error.status === 401) return new ApiError('unauthorized', error.message || 'unauthorized');
  }
  return undefined;
}

/** Whole seconds, at least 1: a Retry-After of 0 would invite an immediate retry storm. */
export const retryAfterHeader = (error: ApiError): string | undefined =>
  error.retryAfterSeconds === undefined ? undefined : String(Math.max(1, Math.ceil(error.retryAfterSeconds)));
