/**
 * tslab type-checks notebook cells with its own TypeScript 5.0.4: lepton.plot's types must accept the
 * natural calls (the course's among them) and reject wrong ones, under that compiler.
 */
import { describe, expect, it } from "vitest";
import { join } from "path";
import { writeFileSync, mkdtempSync } from "fs";
import { tmpdir } from "os";

// tslab bundles its compiler under this name.
const ts = require("@tslab/typescript-for-tslab") as typeof import("typescript");

function diagnostics(file: string): string[] {
  const program = ts.createProgram([file], {
    strict: true,
    target: ts.ScriptTarget.ES2020,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    esModuleInterop: true,
    skipLibCheck: true,
    noEmit: true,
    lib: ["lib.es2022.d.ts", "lib.dom.d.ts"],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file ? `${d.file.fileName.split("/").pop()}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : "";
    return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
  });
}

describe("lepton.plot types under tslab's TypeScript", () => {
  it(`is TypeScript ${ts.version}`, () => {
    expect(ts.version).toBe("5.0.4");
  });

  it("accept the notebook calls", () => {
    expect(diagnostics(join(__dirname, "fixtures", "plot", "cells.ts"))).toEqual([]);
  });

  it("reject wrong calls with errors that point at them", () => {
    const dir = mkdtempSync(join(tmpdir(), "lepton-plot-types-"));
    const file = join(dir, "bad.ts");
    const src = join(__dirname, "..", "src", "display", "plot").replace(/\\/g, "/");
    writeFileSync(file, [
      `import * as plot from ${JSON.stringify(src)};`,
      `plot.activation("swish");`,
      `plot.line({ x: [1, 2] });`,
      `plot.line({ y: [1] }, { yaxis: { type: "logarithmic" } });`,
      `plot.setLibraryMode("cdn");`,
      `plot.scatter({ x: [1], y: [2], labels: [0], classNames: "a" });`,
      `plot.line({ y: [1] }, { xTitle: 3 });`,
    ].join("\n"));
    const errors = diagnostics(file);
    expect(errors.map((e) => e.split(" ")[0])).toEqual(["bad.ts:2", "bad.ts:3", "bad.ts:4", "bad.ts:5", "bad.ts:6", "bad.ts:7"]);
  });
});
