/** The request's ResultStore: the RESULTS bucket, the data centre's cache and the request's waitUntil. */
import type { Context } from 'hono';
import type { EdgeEnv } from '../app-env.ts';
import { defaultCache } from '../bindings.ts';
import { ResultStore } from './result-store.ts';

function backgroundOf(c: Context<EdgeEnv>) {
  try {
    return c.executionCtx;
  } catch {
    return undefined; // app.request() in tests has no ExecutionContext
  }
}

export function resultStoreFor(c: Context<EdgeEnv>): ResultStore {
  return new ResultStore({ bucket: c.get('config').results, cache: defaultCache(), origin: new URL(c.req.url).origin, background: backgroundOf(c) });
}
