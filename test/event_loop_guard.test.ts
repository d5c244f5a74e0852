/** The suite's event-loop guard (test/setup/event_loop_guard.ts), run on a fixture in a vitest of its own. */
import { describe, expect, it } from "vitest";
import { join } from "path";
import { ROOT, runCommand } from "./kernel_helpers";

describe("event-loop guard", () => {
  it("fails a test that blocks its worker longer than the limit and names the remedy; an awaited command passes", async () => {
    const res = await runCommand(process.execPath, [
      join(ROOT, "node_modules", "vitest", "vitest.mjs"), "run", "--config", join(ROOT, "test", "fixtures", "guard", "vitest.config.ts"), "--reporter", "verbose",
    ], { env: { ...process.env, LEPTON_TEST_BLOCK_LIMIT_MS: "1000", NO_COLOR: "1", FORCE_COLOR: "0" }, cwd: ROOT });
    const out = res.stdout + res.stderr;
    expect(res.status, out).toBe(1);
    expect(out).toMatch(/✓ .*waits for a command without blocking/);
    expect(out).toMatch(/× .*blocks with spawnSync/);
    expect(out).toMatch(/this test blocked its worker's event loop for 1\.\d s in one go \(limit 1 s/);
    expect(out).toContain("runCommand()");
    expect(out).toMatch(/Tests +1 failed \| 1 passed/);
  });
});
