/**
 * The key gate of routes that spend compute, in two steps:
 *
 * - `authenticate()` (middleware, first): Bearer token → key record (hash lookup), kind and origin
 *   checks. 401 for missing/unknown/revoked keys, 403 for a key used where it may not be. A
 *   publishable key is also accepted from the edge's own origin (own-origin.ts says why).
 * - `chargeRateLimit` and `chargeQuota` (called by the route once the upload and parameters are
 *   valid, so a malformed request costs the caller nothing): the per-key rate limit, then the key's
 *   monthly quota (a Durable Object per key); 429 when over either. A quota charge can be refunded
 *   when the edge itself then fails (5xx); the rate limiter cannot give back what it counted.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { ApiError } from '../../../contract/errors.ts';
import type { EdgeEnv } from '../app-env.ts';
import { findApiKey } from './api-keys.ts';
import { allowOrigin } from './cors.ts';
import { isEdgeOwnOrigin } from './own-origin.ts';

/** The rate-limit binding's period (edge/wrangler.toml), used as Retry-After. */
const RATE_LIMIT_PERIOD_SECONDS = 60;

export function authenticate(): MiddlewareHandler<EdgeEnv> {
  return async function requireApiKey(c, next) {
    const config = c.get('config');
    const origin = c.req.header('origin');
    // Readable by the calling page whatever the outcome, so a widget can show a refusal in words;
    // only an accepted key (below) ever produces a result, and keys are not cookies (cors.ts).
    if (origin !== undefined) allowOrigin(c, origin);
    const credentials = /^Bearer +(\S+)$/i.exec(c.req.header('authorization') ?? '');
    if (credentials === null) throw new ApiError('unauthorized', 'missing API key: send Authorization: Bearer <key>');
    const key = await findApiKey(config.apiKeys, credentials[1]!);
    if (key === undefined) throw new ApiError('unauthorized', 'unknown API key');
    if (key.revoked_at !== null) throw new ApiError('unauthorized', `API key ${key.id} was revoked`);

    if (key.kind === 'publishable') {
      if (origin === undefined) throw new ApiError('forbidden', 'publishable keys work only from browsers on their registered origins (no Origin header)');
      if (!key.origins.includes(origin.toLowerCase()) && !isEdgeOwnOrigin(c.req.url, origin)) {
        throw new ApiError('forbidden', `origin ${origin} is not registered for key ${key.id}`);
      }
    } else if (origin !== undefined) {
      throw new ApiError('forbidden', 'secret keys are refused from browsers (an Origin header was sent): use a publishable key there');
    }

    c.set('apiKey', key);
    await next();
  };
}

/** The authenticated key's rate limit (429 when over it). Call once the request is known valid. */
export async function chargeRateLimit(c: Context<EdgeEnv>): Promise<void> {
  const key = c.get('apiKey');
  const { success } = await c.get('config').rateLimiter.limit({ key: key.id });
  if (!success) throw new ApiError('rate_limited', `key ${key.id} is over its rate limit`, { retryAfterSeconds: RATE_LIMIT_PERIOD_SECONDS });
}

/** Charged quota units that can be given back; a no-op for keys without a quota. */
export interface QuotaCharge {
  /** The UTC month charged ("2026-11"), or null for a key without a quota. */
  readonly month: string | null;
  refund(): Promise<void>;
}

/** Counts `count` translations (a batch job's items at once) against the key's monthly quota, all or none (429 when they do not fit). */
export async function chargeQuota(c: Context<EdgeEnv>, count = 1): Promise<QuotaCharge> {
  const key = c.get('apiKey');
  if (key.monthly_quota === null) return { month: null, refund: async () => {} };
  const namespace = c.get('config').keyQuotas;
  const quota = namespace.get(namespace.idFromName(key.id) as never);
  const outcome = await quota.consume(key.monthly_quota, count);
  if (!outcome.allowed) {
    const message =
      count === 1
        ? `key ${key.id} has used its monthly quota of ${key.monthly_quota} translations`
        : `key ${key.id} has ${Math.max(0, key.monthly_quota - outcome.used)} translations left this month, fewer than the ${count} items`;
    throw new ApiError('rate_limited', message, { retryAfterSeconds: outcome.retryAfterSeconds });
  }
  return { month: outcome.month, refund: () => quota.refund(outcome.month, count) };
}
