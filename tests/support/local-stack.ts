/** The local stack (infra/local/stack.ts) as tests start it: free ports, a small function pool. */
import type { LocalStackOptions } from '../../infra/local/stack.ts';

export const LOCAL_STACK_ON_FREE_PORTS = {
  edgePort: 0,
  functionPort: 0,
  storePort: 0,
  // A function, wrangler dev with its asset build and the key CLI on a busy 2-core machine.
  readyTimeoutMs: 180_000,
  functionEnv: { INFERENCE_WORKERS: '1', INTRA_OP_THREADS: '1' },
} as const satisfies Omit<LocalStackOptions, 'dataDir'>;
