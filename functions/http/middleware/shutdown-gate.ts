/**
 * While the process drains after SIGTERM, new work gets 503 shutting_down so load balancers move
 * away; liveness keeps answering so the platform does not kill the drain early.
 */
import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../../../contract/errors.ts';
import type { AppEnv } from '../app-env.ts';

export interface ShutdownState {
  readonly draining: boolean;
}

export function shutdownGate(state: ShutdownState): MiddlewareHandler<AppEnv> {
  return async function shutdownGateMiddleware(c, next) {
    if (state.draining && c.req.path !== '/v2/health/live') {
      c.header('Connection', 'close');
      throw new ApiError('shutting_down', 'this replica is shutting down; retry on another', { retryAfterSeconds: 1 });
    }
    await next();
  };
}
