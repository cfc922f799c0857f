/** How a stored result is answered, the same for POST /v1/translations and GET /v1/results/{address}. */
import type { Context } from 'hono';
import { MODEL_NAME_HEADER, MODEL_VERSION_HEADER, SEED_HEADER } from '../../../contract/headers.ts';
import type { EdgeEnv } from '../app-env.ts';
import { IMMUTABLE_CACHE_CONTROL, type StoredResult } from '../cache/result-store.ts';
import { etagOf } from '../http/conditional.ts';

export type CacheStatus = 'HIT' | 'MISS';

function setResultHeaders(c: Context<EdgeEnv>, address: string, cacheStatus: CacheStatus | undefined): void {
  c.header('ETag', etagOf(address));
  c.header('Cache-Control', IMMUTABLE_CACHE_CONTROL);
  c.header('Content-Location', `/v1/results/${address}`);
  if (cacheStatus !== undefined) c.header('X-Cache', cacheStatus);
}

export function resultResponse(c: Context<EdgeEnv>, address: string, result: StoredResult, cacheStatus?: CacheStatus): Response {
  setResultHeaders(c, address, cacheStatus);
  c.header('Content-Type', result.contentType);
  c.header(MODEL_NAME_HEADER, result.modelName);
  c.header(MODEL_VERSION_HEADER, result.modelVersion);
  if (result.seed !== undefined) c.header(SEED_HEADER, result.seed);
  return c.body(result.bytes, 200);
}

export function notModified(c: Context<EdgeEnv>, address: string, extra: Record<string, string> = {}): Response {
  setResultHeaders(c, address, undefined);
  for (const [name, value] of Object.entries(extra)) c.header(name, value);
  return c.body(null, 304);
}
