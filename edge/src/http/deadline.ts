/**
 * The request's absolute deadline: the configured budget, shortened when the caller sends a smaller
 * X-Request-Timeout-Ms (a caller that gives up sooner should not have its work finished for nobody).
 */
import type { Context } from 'hono';
import { ApiError } from '../../../contract/errors.ts';
import { TIMEOUT_HEADER } from '../../../contract/headers.ts';

export function deadlineOf(c: Context, configuredBudgetMs: number, now: number = Date.now()): number {
  const text = c.req.header(TIMEOUT_HEADER);
  if (text === undefined) return now + configuredBudgetMs;
  if (!/^\d{1,7}$/.test(text) || Number(text) < 1) {
    throw new ApiError('invalid_parameters', `${TIMEOUT_HEADER}: must be a whole number of milliseconds, at least 1`);
  }
  return now + Math.min(configuredBudgetMs, Number(text));
}
