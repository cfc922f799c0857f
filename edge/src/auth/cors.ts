/**
 * CORS. Never `*` together with credentials: the edge sends no Access-Control-Allow-Credentials at
 * all (keys travel in Authorization, not cookies).
 *
 * - Keyed routes reflect the request's Origin (authenticate.ts), whether the key is accepted or not:
 *   a page must be able to read a refusal (401/403 and its message) to tell its visitor why. That
 *   grants nothing: whether a result is produced is decided server-side per key and origin, and
 *   the key travels in Authorization, not in a cookie the browser would attach on its own, so a
 *   readable answer carries nothing the calling page did not already hold.
 * - A preflight cannot carry the key (browsers send no Authorization on OPTIONS), so it is answered
 *   for any origin; it grants nothing by itself, since the real request is checked per key.
 * - Public, credential-free resources (results, models, OpenAPI) allow `*`, which is what makes
 *   result URLs embeddable in canvases and other sites.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { EdgeEnv } from '../app-env.ts';

export const EXPOSED_HEADERS = 'ETag, X-Cache, X-Seed, X-Model-Name, X-Model-Version, X-Request-Id, Retry-After, Content-Location';
const ALLOWED_HEADERS = 'Authorization, Content-Type, If-None-Match, X-Request-Id, X-Request-Timeout-Ms';
const PREFLIGHT_MAX_AGE_SECONDS = '600';

export function allowOrigin(c: Context<EdgeEnv>, origin: string): void {
  c.header('Access-Control-Allow-Origin', origin);
  c.header('Access-Control-Expose-Headers', EXPOSED_HEADERS);
  c.header('Vary', 'Origin', { append: true });
}

/** OPTIONS on any API path: methods and headers, no credentials, reflected origin (see above). */
export function preflight(): MiddlewareHandler<EdgeEnv> {
  return async function answerPreflight(c, next) {
    const origin = c.req.header('origin');
    if (c.req.method !== 'OPTIONS' || origin === undefined) return next();
    c.header('Access-Control-Allow-Origin', origin);
    c.header('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
    c.header('Access-Control-Allow-Headers', ALLOWED_HEADERS);
    c.header('Access-Control-Max-Age', PREFLIGHT_MAX_AGE_SECONDS);
    c.header('Vary', 'Origin', { append: true });
    return c.body(null, 204);
  };
}

/** `*` for public resources that carry no credentials. */
export function publicCors(): MiddlewareHandler<EdgeEnv> {
  return async function allowAnyOrigin(c, next) {
    await next();
    c.header('Access-Control-Allow-Origin', '*');
    c.header('Access-Control-Expose-Headers', EXPOSED_HEADERS);
  };
}
