import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          environment: 'node',
          include: ['tests/*.test.ts'],
          // onnxruntime sessions and spawned CLI runs take seconds each on a 2-core machine.
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Native addons (onnxruntime, sharp) are happiest in child processes, not worker threads.
          pool: 'forks',
        },
      },
      {
        // The edge Worker's tests run inside workerd (the Workers runtime), with the bindings of
        // edge/wrangler.toml simulated locally, against real function processes (global setup).
        plugins: [
          cloudflareTest({
            main: './edge/src/index.ts',
            wrangler: { configPath: './edge/wrangler.toml' },
            miniflare: {
              // A tight second limiter so the 429 path is reachable in a few requests.
              ratelimits: { TEST_RATE_LIMITER: { simple: { limit: 3, period: 60 } } },
            },
          }),
        ],
        test: {
          name: 'edge',
          include: ['edge/test/**/*.test.ts'],
          globalSetup: ['edge/test/global-setup.ts'],
          // One shared function process: files in sequence keep its request counters attributable.
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
