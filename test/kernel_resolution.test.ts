/**
 * How the kernel makes `lepton` and its dependencies importable from any notebook folder
 * (src/kernel/modules.ts): the path overlay the type checker sees, and the run-time fallback. Each
 * notebook-side check runs in a child process whose cwd is a fresh folder outside the repository, so the
 * hooks never touch the test process.
 */
import { describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, realpathSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { overlayPath } from "../src/kernel/modules";
import { ROOT, ensureBuilt, runCommand } from "./kernel_helpers";

const root = ROOT.replace(/\\/g, "/");

function folder(): string {
  return realpathSync(mkdtempSync(join(tmpdir(), "lepton-resolution-"))).replace(/\\/g, "/");
}

/** A fake package `name` in `dir/node_modules`, exporting `which` at run time and `which: "local"` as its type. */
function fakePackage(dir: string, name: string): void {
  const pkg = join(dir, "node_modules", ...name.split("/"));
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, "package.json"), JSON.stringify({ name, version: "0.0.1", main: "index.js", types: "index.d.ts" }));
  writeFileSync(join(pkg, "index.js"), `exports.which = "local";\n`);
  writeFileSync(join(pkg, "index.d.ts"), `export declare const which: "local";\n`);
}

/** Run cells through the kernel's executor (tslab's compiler + our resolution) with cwd `dir`. */
async function runCells(dir: string, cells: string[]): Promise<Array<{ ok: boolean; value?: unknown; ename?: string; evalue?: string }>> {
  const script = `
    const m = require(${JSON.stringify(join(ROOT, "dist", "src", "kernel", "modules.js"))});
    m.installRuntimeResolution(); m.installCompilerResolution();
    const { CellExecutor } = require(${JSON.stringify(join(ROOT, "dist", "src", "kernel", "executor.js"))});
    const ex = new CellExecutor({});
    (async () => {
      const out = [];
      for (const code of ${JSON.stringify(cells)}) {
        const r = await ex.run(code, { parent: {}, interrupted: false, running: false });
        out.push({ ok: r.ok, value: r.ok ? r.value : undefined, ename: r.ename, evalue: r.evalue });
      }
      process.stdout.write("RESULT" + JSON.stringify(out) + "\\n");
      process.exit(0);
    })();`;
  const res = await runCommand(process.execPath, ["-e", script], { cwd: dir, timeoutMs: 120_000 });
  const line = res.stdout.split("\n").find((l) => l.startsWith("RESULT"));
  if (!line) throw new Error(`the executor printed no result (status ${res.status}):\n${res.stdout}\n${res.stderr}`);
  return JSON.parse(line.slice("RESULT".length));
}

describe("type-checker overlay (overlayPath)", () => {
  it("shows lepton and lepton's dependencies under any folder's node_modules, at their real paths", () => {
    const dir = folder();
    expect(overlayPath(`${dir}/node_modules/lepton/package.json`, ROOT)).toBe(`${root}/package.json`);
    expect(overlayPath(`${dir}/node_modules/lepton/dist/src/index.d.ts`, ROOT)).toBe(`${root}/dist/src/index.d.ts`);
    expect(overlayPath(`${dir}/node_modules/@tensorflow/tfjs/package.json`, ROOT)).toBe(`${root}/node_modules/@tensorflow/tfjs/package.json`);
    // A dependency looked up from inside the virtual lepton folder lands on the real file too.
    expect(overlayPath(`${dir}/node_modules/lepton/node_modules/@tensorflow/tfjs-core/package.json`, ROOT))
      .toBe(`${root}/node_modules/@tensorflow/tfjs-core/package.json`);
  });

  it("leaves alone real paths, packages lepton does not have, and global @types", () => {
    const dir = folder();
    expect(overlayPath(`${dir}/cell.ts`, ROOT)).toBe(`${dir}/cell.ts`);
    expect(overlayPath(`${dir}/node_modules/no-such-package-xyz/index.d.ts`, ROOT)).toBe(`${dir}/node_modules/no-such-package-xyz/index.d.ts`);
    expect(overlayPath(`${dir}/node_modules/@types/node/index.d.ts`, ROOT)).toBe(`${dir}/node_modules/@types/node/index.d.ts`);
    expect(overlayPath(`${root}/node_modules/@tensorflow/tfjs/package.json`, ROOT)).toBe(`${root}/node_modules/@tensorflow/tfjs/package.json`);
  });

  it("a folder's own copy of a package wins over lepton's", () => {
    const dir = folder();
    fakePackage(dir, "@tensorflow/tfjs");
    expect(overlayPath(`${dir}/node_modules/@tensorflow/tfjs/index.d.ts`, ROOT)).toBe(`${dir}/node_modules/@tensorflow/tfjs/index.d.ts`);
  });
});

describe("notebook cells in a folder outside the repository", () => {
  it("import lepton and tfjs: type-checked against lepton's own types, and the same tfjs instance lepton uses", async () => {
    ensureBuilt();
    const dir = folder();
    const [imports, check, wrong] = await runCells(dir, [
      `import * as lepton from "lepton";\nimport * as tf from "@tensorflow/tfjs";`,
      `const n: number = lepton.models.countParams(lepton.models.mlp([2, 3]));\n[n, require.resolve("lepton"), require.resolve("@tensorflow/tfjs")]`,
      `const s: string = lepton.models.mlp([2, 3]);`,
    ]);
    expect(imports.ok).toBe(true);
    expect(check.ok).toBe(true);
    expect(check.value).toEqual([9, join(ROOT, "dist", "src", "index.js"), require.resolve("@tensorflow/tfjs")]);
    expect(wrong).toMatchObject({ ok: false, ename: "TypeScriptError" });
    expect(wrong.evalue).toContain("LayersModel");
  }, 180_000);

  it("the folder's own packages win over lepton's fallback, for the type checker and at run time", async () => {
    ensureBuilt();
    const dir = folder();
    fakePackage(dir, "@tensorflow/tfjs");
    const [typed, mistyped] = await runCells(dir, [
      `import { which } from "@tensorflow/tfjs";\nconst w: "local" = which;\nw`,
      `import * as tf2 from "@tensorflow/tfjs";\ntf2.zeros([1])`,
    ]);
    expect(typed).toMatchObject({ ok: true, value: "local" });
    // The local stand-in has no `zeros`: its types, not lepton's tfjs, were used.
    expect(mistyped).toMatchObject({ ok: false, ename: "TypeScriptError" });
    expect(mistyped.evalue).toContain("zeros");
  }, 180_000);
});
