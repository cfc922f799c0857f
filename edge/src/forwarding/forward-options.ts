/** Forwarding options for one request (or one batch item), from the config and the isolate's replica pool. */
import type { Context } from 'hono';
import type { EdgeEnv } from '../app-env.ts';
import type { EdgeConfig } from '../config.ts';
import type { ForwardOptions } from './forward.ts';
import { replicaPoolFor } from './replica-pool.ts';

export function forwardOptions(config: EdgeConfig, requestId: string, deadline: number): ForwardOptions & { ttlMs: number } {
  return {
    pool: replicaPoolFor(config.functionPool, config.breaker),
    maxAttempts: config.maxAttempts,
    attemptTimeoutMs: config.attemptTimeoutMs,
    deadline,
    requestId,
    authToken: config.functionAuthToken,
    ttlMs: config.modelsTtlMs,
  };
}

export function forwardOptionsFor(c: Context<EdgeEnv>, deadline: number): ForwardOptions & { ttlMs: number } {
  return forwardOptions(c.get('config'), c.get('requestId'), deadline);
}
