/** A pino child logger per request carrying the request id (set by Hono's requestId middleware). */
import type { MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import type { AppEnv } from '../app-env.ts';

export function requestLogger(logger: Logger): MiddlewareHandler<AppEnv> {
  return async function requestLoggerMiddleware(c, next) {
    c.set('log', logger.child({ requestId: c.get('requestId') }));
    await next();
  };
}
