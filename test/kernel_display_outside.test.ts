/**
 * The display API outside a kernel: a plain Node script (a child process, no kernel, no vitest) that
 * calls lepton.display, a handle's update, lepton.html, lepton.mime without a text/plain part and a
 * value whose display method throws prints readable text and finishes normally.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, realpathSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { ROOT, ensureBuilt, runCommand } from "./kernel_helpers";

beforeAll(() => {
  ensureBuilt();
});

describe("lepton.display outside a kernel (plain Node)", () => {
  it("prints each display's text (mime types named when there is no text/plain), never throws, exits 0", async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), "lepton-display-outside-")));
    const script = join(dir, "script.js");
    writeFileSync(script, [
      `const lepton = require(${JSON.stringify(join(ROOT, "dist", "src", "index.js"))});`,
      `lepton.display(lepton.html("<b>bold</b> text"));`,
      `const h = lepton.display("step 1");`,
      `h.update({ a: 1, b: [1, 2] });`,
      `lepton.display(lepton.mime({ "text/html": "<i>chart</i>", "application/vnd.plotly.v1+json": { data: [] } }));`,
      `lepton.display(lepton.mime({ "text/plain": "its own text", "text/html": "<p>x</p>" }));`,
      `lepton.display({ [Symbol.for("Jupyter.display")]() { throw new Error("boom"); } });`,
      `console.log("inKernel " + lepton.inKernel() + ", handle " + typeof h.displayId);`,
    ].join("\n"));
    const res = await runCommand(process.execPath, [script], { cwd: dir, timeoutMs: 120_000 });
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toBe([
      "bold text",
      "step 1",
      "{ a: 1, b: [ 1, 2 ] }",
      "<display: text/html, application/vnd.plotly.v1+json>",
      "its own text",
      "inKernel false, handle string",
      "",
    ].join("\n"));
    expect(res.stderr).toContain("lepton: display failed: boom");
  });
});
