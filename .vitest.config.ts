import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'spec/**/*.test.ts', 'properties/**/*.test.ts', 'fixtures/**/*.test.ts', 'examples/**/*.test.ts', 'kernel-wasm/**/*.test.ts'],
    pool: 'threads',
    // Tests never depend on machine speed: no per-test time limit can fire on a correct but slow or busy machine.
    testTimeout: 0,
    hookTimeout: 0,
    // The CLI tests spawn dmacheck, which bundles dist/ when it is stale: do it once, before any test runs.
    globalSetup: ['./.vitest.setup.ts'],
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      exclude: ['src/**/*.test.ts', 'src/cli/**'],
      reporter: ['text-summary', 'text'],
    },
  },
});
