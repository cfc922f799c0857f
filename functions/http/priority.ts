/** A request's priority from X-Request-Priority (contract/headers.ts): interactive unless it says batch. */
import type { Context } from 'hono';
import { ApiError } from '../../contract/errors.ts';
import { PRIORITIES, PRIORITY_HEADER, type Priority } from '../../contract/headers.ts';
import type { AppEnv } from './app-env.ts';

export function priorityOf(c: Context<AppEnv>): Priority {
  const text = c.req.header(PRIORITY_HEADER);
  if (text === undefined) return 'interactive';
  const priority = PRIORITIES.find((known) => known === text.trim().toLowerCase());
  if (priority === undefined) throw new ApiError('invalid_parameters', `${PRIORITY_HEADER}: must be one of ${PRIORITIES.join(', ')}`);
  return priority;
}
