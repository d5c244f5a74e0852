/**
 * A shorthand property naming an earlier cell's variable (`{ seed }`) must run: tslab's converter
 * leaves it unrewritten (ReferenceError), lepton's kernel expands it before compiling.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, realpathSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { KernelClient } from "../src/kernel/client";
import { expandShorthandProperties } from "../src/kernel/shorthand";
import { ensureBuilt } from "./kernel_helpers";

describe("expandShorthandProperties", () => {
  it("spells out shorthand properties and leaves everything else alone", () => {
    expect(expandShorthandProperties("f({ seed, n: 2 }, { a })")).toBe("f({ seed: seed, n: 2 }, { a: a })");
    expect(expandShorthandProperties("const { x: X, y } = obj; g(X)")).toBe("const { x: X, y } = obj; g(X)");
    expect(expandShorthandProperties("({ a = 1 } = o)")).toBe("({ a = 1 } = o)");
    expect(expandShorthandProperties("const s = `{ seed }`; // { seed }")).toBe("const s = `{ seed }`; // { seed }");
  });
});

describe("shorthand properties across cells on the Lepton kernel", () => {
  let kernel: KernelClient;
  beforeAll(async () => {
    ensureBuilt();
    kernel = await KernelClient.start({ cwd: realpathSync(mkdtempSync(join(tmpdir(), "lepton-shorthand-"))) });
  });
  afterAll(async () => {
    await kernel?.shutdown();
  });

  it("runs `{ seed }` where seed was declared in an earlier cell, sync and with await", async () => {
    expect((await kernel.execute("const seed = 7;")).reply.content.status).toBe("ok");
    const plain = await kernel.execute("const o = { seed, twice: seed * 2 };\nJSON.stringify(o)");
    expect(plain.reply.content.status).toBe("ok");
    expect(JSON.stringify(plain.outputs)).toContain('{\\"seed\\":7,\\"twice\\":14}');
    const awaited = await kernel.execute("const p = await Promise.resolve({ seed });\np.seed + 1");
    expect(awaited.reply.content.status).toBe("ok");
    expect(JSON.stringify(awaited.outputs)).toContain('"text/plain":"8"');
  });

  it("still reports a type error at the user's own column", async () => {
    const bad = await kernel.execute("const q = { seed, missing };");
    expect(bad.reply.content.status).toBe("error");
    expect(bad.reply.content.evalue).toContain("missing");
    expect(bad.reply.content.evalue).toMatch(/1:19/);
  });
});
