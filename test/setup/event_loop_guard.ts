/**
 * Keeps every test file's worker able to answer vitest. The worker talks to the runner over an RPC
 * whose calls time out after 60 s (fixed in vitest, no option), and it reads the replies only when its
 * event loop turns. Consecutive tests advance through promise jobs alone, so a file whose tests each
 * block (spawnSync, long synchronous compute) starves the loop for their sum: every test passes and the
 * run still fails with "Timeout calling onTaskUpdate". So:
 *  - after each test the worker yields one full turn of the event loop, and
 *  - a single test that blocks the loop longer than LEPTON_TEST_BLOCK_LIMIT_MS (30 s by default) fails,
 *    saying what to do instead.
 */
import { afterEach, beforeEach } from "vitest";
import { setImmediate as yieldToEventLoop } from "timers/promises";

const limitMs = Number(process.env.LEPTON_TEST_BLOCK_LIMIT_MS ?? 30_000);
const TICK_MS = 100;

let last = Date.now();
let longestBlockMs = 0;
const ticker = setInterval(() => {
  const now = Date.now();
  longestBlockMs = Math.max(longestBlockMs, now - last - TICK_MS);
  last = now;
}, TICK_MS);
ticker.unref();

beforeEach(async () => {
  await yieldToEventLoop();
  last = Date.now();
  longestBlockMs = 0;
});

afterEach(async () => {
  // One turn of the loop: overdue timers (the ticker, vitest's RPC timeouts) run, then pending I/O,
  // including the runner's replies, is read, then this resolves.
  await yieldToEventLoop();
  if (longestBlockMs > limitMs) {
    throw new Error(
      `this test blocked its worker's event loop for ${(longestBlockMs / 1000).toFixed(1)} s in one go ` +
        `(limit ${limitMs / 1000} s; vitest's worker RPC gives up after 60 s). Run long commands with ` +
        `runCommand() from test/kernel_helpers.ts instead of spawnSync, and await between long computations.`,
    );
  }
});
