/**
 * The caller gate: with FUNCTION_AUTH_TOKEN set, every request must carry it as a bearer token, so
 * a function on a public URL (a serverless GPU platform's default) answers only the edge, whose
 * keys, rate limits and quotas it would otherwise bypass. The platform's health probes carry no
 * token and reveal nothing, so they stay open; /admin has its own token (ADMIN_TOKEN).
 */
import type { MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import type { AppEnv } from '../app-env.ts';

/** The platform's probes, and the admin route, which checks ADMIN_TOKEN itself. */
const OPEN_PATHS = new Set(['/v2/health/live', '/v2/health/ready', '/admin/reload']);

export function callerAuth(token: string | undefined): MiddlewareHandler<AppEnv> {
  if (token === undefined) return async (_c, next) => next();
  const checkToken = bearerAuth({
    token,
    noAuthenticationHeader: { message: 'missing bearer token: this function answers only callers with FUNCTION_AUTH_TOKEN' },
    invalidToken: { message: 'invalid bearer token' },
    invalidAuthenticationHeader: { message: 'malformed Authorization header' },
  });
  return async function requireCallerToken(c, next) {
    if (OPEN_PATHS.has(c.req.path)) return next();
    // bearerAuth is typed for the default Env; it reads only the request and headers.
    return checkToken(c as unknown as Parameters<typeof checkToken>[0], next);
  };
}
