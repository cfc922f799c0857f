import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    include: ['tests/*.test.ts'],
    // onnxruntime sessions and spawned CLI runs take seconds each on a 2-core machine.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Native addons (onnxruntime, sharp) are happiest in child processes, not worker threads.
    pool: 'forks',
  },
});
