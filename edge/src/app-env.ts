/** The one Env type of the edge's Hono app: bindings from wrangler, variables set by middleware. */
import type { ApiKeyRecord } from './auth/api-keys.ts';
import type { EdgeBindings } from './bindings.ts';
import type { EdgeConfig } from './config.ts';

export interface EdgeVariables {
  /** From X-Request-Id or made up (hono/request-id); echoed and passed to the functions. */
  requestId: string;
  /** Parsed once per env object by config.ts. */
  config: EdgeConfig;
  /** The caller's key, set by the authenticate middleware on routes that need one. */
  apiKey: ApiKeyRecord;
}

export interface EdgeEnv {
  Bindings: EdgeBindings;
  Variables: EdgeVariables;
}

