/** A request's absolute deadline from its X-Request-Timeout-Ms budget, or the configured default. */
import type { Context } from 'hono';
import { ApiError } from '../../contract/errors.ts';
import { TIMEOUT_HEADER } from '../../contract/headers.ts';
import type { AppEnv } from './app-env.ts';

const MAX_TIMEOUT_MS = 600_000;

export function deadlineOf(c: Context<AppEnv>, defaultTimeoutMs: number, now: number = Date.now()): number {
  const text = c.req.header(TIMEOUT_HEADER);
  if (text === undefined) return now + defaultTimeoutMs;
  if (!/^\d{1,6}$/.test(text) || Number(text) < 1 || Number(text) > MAX_TIMEOUT_MS) {
    throw new ApiError('invalid_parameters', `${TIMEOUT_HEADER}: must be milliseconds from 1 to ${MAX_TIMEOUT_MS}`);
  }
  return now + Number(text);
}
