/**
 * The key gate of routes that spend compute: Bearer token → key record (hash lookup), kind and
 * origin checks, the per-key rate limit, then the key's monthly quota (a Durable Object per key).
 * 401 for missing/unknown/revoked keys, 403 for a key used where it may not be, 429 when the key
 * is over its rate limit or its month's quota.
 */
import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../../../contract/errors.ts';
import type { EdgeEnv } from '../app-env.ts';
import { quotaMonth, secondsUntilNextMonth } from '../quota/key-quota.ts';
import { findApiKey } from './api-keys.ts';
import { allowOrigin } from './cors.ts';

/** The rate-limit binding's period (edge/wrangler.toml), used as Retry-After. */
const RATE_LIMIT_PERIOD_SECONDS = 60;

export function authenticate(): MiddlewareHandler<EdgeEnv> {
  return async function requireApiKey(c, next) {
    const config = c.get('config');
    const origin = c.req.header('origin');
    const credentials = /^Bearer +(\S+)$/i.exec(c.req.header('authorization') ?? '');
    if (credentials === null) throw new ApiError('unauthorized', 'missing API key: send Authorization: Bearer <key>');
    const key = await findApiKey(config.apiKeys, credentials[1]!);
    if (key === undefined) throw new ApiError('unauthorized', 'unknown API key');
    if (key.revoked_at !== null) throw new ApiError('unauthorized', `API key ${key.id} was revoked`);

    if (key.kind === 'publishable') {
      if (origin === undefined) throw new ApiError('forbidden', 'publishable keys work only from browsers on their registered origins (no Origin header)');
      if (!key.origins.includes(origin.toLowerCase())) throw new ApiError('forbidden', `origin ${origin} is not registered for key ${key.id}`);
      allowOrigin(c, origin);
    } else if (origin !== undefined) {
      throw new ApiError('forbidden', 'secret keys are refused from browsers (an Origin header was sent): use a publishable key there');
    }

    const { success } = await config.rateLimiter.limit({ key: key.id });
    if (!success) throw new ApiError('rate_limited', `key ${key.id} is over its rate limit`, { retryAfterSeconds: RATE_LIMIT_PERIOD_SECONDS });
    if (key.monthly_quota !== null) {
      const now = new Date();
      const quota = config.keyQuotas.get(config.keyQuotas.idFromName(key.id) as never);
      const outcome = await quota.consume(quotaMonth(now), key.monthly_quota);
      if (!outcome.allowed) {
        throw new ApiError('rate_limited', `key ${key.id} has used its monthly quota of ${key.monthly_quota} translations`, {
          retryAfterSeconds: secondsUntilNextMonth(now),
        });
      }
    }
    c.set('apiKey', key);
    await next();
  };
}
