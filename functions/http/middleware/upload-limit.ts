/**
 * Request body limit for the upload routes (Hono's bodyLimit), answered 413 payload_too_large.
 * The rest of an over-limit body is never read, so the answer closes the connection: no client
 * may reuse a socket whose request is half-sent (the usual early-413 behaviour of HTTP servers).
 */
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ApiError } from '../../../contract/errors.ts';
import type { AppEnv } from '../app-env.ts';

export function uploadLimit(maxBytes: number): MiddlewareHandler<AppEnv> {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) => {
      c.header('Connection', 'close');
      throw new ApiError('payload_too_large', `request body is larger than ${maxBytes} bytes`);
    },
  });
}
