/** The Hono environment of the function's app: what middleware puts on the context, typed once. */
import type { Logger } from 'pino';

export interface AppEnv {
  Variables: {
    requestId: string;
    /** pino child logger carrying the request id. */
    log: Logger;
  };
}
