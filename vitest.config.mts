import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests (fake time and channels) and integration tests
// against real etcd processes started by lib/testing. `npm test` runs both.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['integration/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Integration files start their own etcd processes; two at a time keeps a
          // 2-core CI machine responsive enough for timing assertions.
          maxWorkers: 2,
          fileParallelism: true,
        },
      },
    ],
    reporters: ['default'],
  },
});
