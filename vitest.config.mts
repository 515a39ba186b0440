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
          // Unit tests first, then integration: the two use different worker limits.
          sequence: { groupOrder: 0 },
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
          sequence: { groupOrder: 1 },
          fileParallelism: true,
        },
      },
    ],
    reporters: ['default'],
  },
});
