/** The test helpers themselves: runCommand must not crash the worker when a command ignores its stdin. */
import { expect, it } from "vitest";
import { runCommand } from "./kernel_helpers";

it("runCommand: a command that exits without reading its input (EPIPE) is just its exit status", async () => {
  for (let i = 0; i < 20; i++) {
    const r = await runCommand("/bin/true", [], { input: "x".repeat(1 << 20) });
    expect(r.status).toBe(0);
  }
});
