// Test runner settings: real tfjs (wasm/cpu), real SQLite and real folders make tests slow-ish, so
// timeouts are generous and files run in separate processes (tfjs backends are process-global).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
