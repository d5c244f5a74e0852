import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/setup/event_loop_guard.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Kernel and browser tests start real processes; two cores do not gain from many workers.
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
