/**
 * The one place errors become responses: ApiError as its JSON body and status, Retry-After when
 * it carries one; Hono's HTTPException (e.g. the body limit) mapped onto our codes; anything else a
 * logged 500 that says no more than the request id.
 */
import type { ErrorHandler, NotFoundHandler } from 'hono';
import { ApiError } from '../../contract/errors.ts';
import { retryAfterHeader, toApiError } from '../../contract/http-errors.ts';
import type { AppEnv } from './app-env.ts';

export const onError: ErrorHandler<AppEnv> = (error, c) => {
  const requestId = c.get('requestId');
  const apiError = toApiError(error);
  if (apiError === undefined) {
    c.get('log').error({ err: error }, 'unhandled error');
    const internal = new ApiError('internal', `internal error (request id ${requestId})`);
    return c.json(internal.body(requestId), 500);
  }
  if (apiError.status >= 500) c.get('log').warn({ code: apiError.code, message: apiError.message }, 'request failed');
  const retryAfter = retryAfterHeader(apiError);
  if (retryAfter !== undefined) c.header('Retry-After', retryAfter);
  return c.json(apiError.body(requestId), apiError.status as 400);
};

export const onNotFound: NotFoundHandler<AppEnv> = (c) => {
  const error = new ApiError('not_found', `no route for ${c.req.method} ${c.req.path}`);
  return c.json(error.body(c.get('requestId')), 404);
};
