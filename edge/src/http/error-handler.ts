/**
 * The one place errors become responses: ApiError as its JSON body and status (Retry-After when it
 * carries one), Hono's HTTPException mapped onto the shared codes, anything else a logged 500 that
 * tells the caller no more than the request id. Headers set before the error (CORS for the key's
 * origin, the request id) stay on the error response, so browsers can read their errors.
 */
import type { ErrorHandler, NotFoundHandler } from 'hono';
import { ApiError } from '../../../contract/errors.ts';
import { retryAfterHeader, toApiError } from '../../../contract/http-errors.ts';
import type { EdgeEnv } from '../app-env.ts';

export const onError: ErrorHandler<EdgeEnv> = (error, c) => {
  const requestId = c.get('requestId');
  const apiError = toApiError(error);
  if (apiError === undefined) {
    console.error(JSON.stringify({ level: 'error', requestId, msg: 'unhandled error', err: String(error), stack: error instanceof Error ? error.stack : undefined }));
    return c.json(new ApiError('internal', `internal error (request id ${requestId})`).body(requestId), 500);
  }
  if (apiError.status >= 500) console.warn(JSON.stringify({ level: 'warn', requestId, code: apiError.code, msg: apiError.message }));
  const retryAfter = retryAfterHeader(apiError);
  if (retryAfter !== undefined) c.header('Retry-After', retryAfter);
  return c.json(apiError.body(requestId), apiError.status as 400);
};

export const onNotFound: NotFoundHandler<EdgeEnv> = (c) => {
  const error = new ApiError('not_found', `no route for ${c.req.method} ${c.req.path}`);
  return c.json(error.body(c.get('requestId')), 404);
};
