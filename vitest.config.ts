import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: integration files each start workers; running too many at once only adds contention.
    fileParallelism: true,
    maxWorkers: 2,
    pool: 'forks',
  },
});
