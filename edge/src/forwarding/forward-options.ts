/** Forwarding options for one request, from the config and the isolate's replica pool. */
import type { Context } from 'hono';
import type { EdgeEnv } from '../app-env.ts';
import type { ForwardOptions } from './forward.ts';
import { replicaPoolFor } from './replica-pool.ts';

export function forwardOptionsFor(c: Context<EdgeEnv>, deadline: number): ForwardOptions & { ttlMs: number } {
  const config = c.get('config');
  return {
    pool: replicaPoolFor(config.functionPool, config.breaker),
    maxAttempts: config.maxAttempts,
    attemptTimeoutMs: config.attemptTimeoutMs,
    deadline,
    requestId: c.get('requestId'),
    authToken: config.functionAuthToken,
    ttlMs: config.modelsTtlMs,
  };
}
