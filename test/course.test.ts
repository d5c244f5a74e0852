/**
 * The course, end to end: `lepton course` runs every notebook in quick mode through the Lepton kernel,
 * then Debian's nbconvert (an independent Jupyter client) runs the same notebooks on the installed
 * kernel and must produce the same kinds of output cell by cell. Committed notebooks carry no outputs.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { CLI, PYTHON, ROOT, ensureBuilt, needJupyter, runCommand, type CommandResult } from "./kernel_helpers";

const NOTEBOOKS = join(ROOT, "notebooks");
const course = JSON.parse(readFileSync(join(NOTEBOOKS, "course.json"), "utf8")) as { notebooks: { file: string }[] };
const work = mkdtempSync(join(tmpdir(), "lepton-course-test-"));
const out = join(work, "quick");

type Nb = { cells: { cell_type: string; source?: string | string[]; outputs?: any[]; metadata?: any }[] };
const read = (file: string): Nb => JSON.parse(readFileSync(file, "utf8"));
/** What a cell showed, independent of numbers: output kinds and mime types. */
const shape = (nb: Nb) =>
  nb.cells.filter((c) => c.cell_type === "code").map((c) => (c.outputs ?? []).filter((o) => o.output_type !== "stream").map((o) => `${o.output_type}:${Object.keys(o.data ?? {}).sort().join(",")}`));

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("committed notebooks", () => {
  it("are listed in course.json, carry no outputs and each has a parameters cell", () => {
    const files = readdirSync(NOTEBOOKS).filter((f) => f.endsWith(".ipynb")).sort();
    expect(course.notebooks.map((n) => n.file).sort()).toEqual(files);
    for (const file of files) {
      const nb = read(join(NOTEBOOKS, file));
      const code = nb.cells.filter((c) => c.cell_type === "code");
      expect(code.every((c) => (c.outputs ?? []).length === 0 && (c as any).execution_count === null), file).toBe(true);
      expect(code.some((c) => (c.metadata?.tags ?? []).includes("parameters")), file).toBe(true);
      // The workshop scaffolding every notebook carries (issue 18).
      const markdown = nb.cells.filter((c) => c.cell_type === "markdown").map((c) => ([] as string[]).concat(c.source ?? []).join("")).join("\n");
      for (const part of ["Objectives", "Timing", "Predict before you run", "What you should see", "Summary", "Exercise 1"]) expect(markdown, `${file}: ${part}`).toContain(part);
    }
  });
});

describe("the course in quick mode", () => {
  let run: CommandResult;
  beforeAll(async () => {
    ensureBuilt();
    run = await runCommand(process.execPath, [CLI, "course", "--out", out, "--no-html"], { timeoutMs: 1_200_000, env: { ...process.env, LEPTON_DATA_DIR: join(work, "no-data"), JUPYTER_DATA_DIR: join(work, "jupyter-data") } });
  }, 1_300_000);

  it("runs every notebook through `lepton course` and prints a summary line each", () => {
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    for (const { file } of course.notebooks) expect(run.stdout).toMatch(new RegExp(`ok\\s+${file.replace(".", "\\.")}`));
    expect(run.stdout).toContain(`${course.notebooks.length} passed, 0 failed`);
    const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
    expect(summary.mode).toBe("quick");
    // LeNet on the bundled sample must beat chance (10%) clearly.
    const lenet = summary.notebooks.find((n: any) => n.notebook.startsWith("05")).records;
    expect(lenet.lenet_test_accuracy).toBeGreaterThan(0.15);
  });

  it("writes executed notebooks with outputs, charts as JSON objects and no errors", () => {
    for (const { file } of course.notebooks) {
      const nb = read(join(out, file));
      const outputs = nb.cells.flatMap((c) => c.outputs ?? []);
      expect(outputs.filter((o) => o.output_type === "error"), file).toEqual([]);
      expect(outputs.length, file).toBeGreaterThan(0);
      for (const o of outputs) {
        const plotly = o.data?.["application/vnd.plotly.v1+json"];
        if (plotly !== undefined) expect(typeof plotly, file).toBe("object");
      }
    }
  });

  it("has exercises with a hint each and hidden solutions that ran without an error", () => {
    for (const { file } of course.notebooks) {
      const nb = read(join(out, file));
      const text = (c: { source?: string | string[] }) => ([] as string[]).concat(c.source ?? []).join("");
      const exercises = nb.cells.map((c, i) => ({ c, i })).filter(({ c }) => c.cell_type === "markdown" && /^### Exercise \d+/m.test(text(c)));
      expect(exercises.length, `${file}: exercises`).toBeGreaterThanOrEqual(2);
      for (const { c, i } of exercises) {
        expect(text(c), `${file} cell ${i}: a hint`).toMatch(/<details>\s*<summary>Hint<\/summary>/);
        const solution = nb.cells[i + 1];
        expect(solution?.cell_type, `${file} cell ${i + 1}: the solution follows its exercise`).toBe("code");
        expect(solution.metadata?.tags ?? [], `${file} cell ${i + 1}`).toContain("solution");
        expect(solution.metadata?.jupyter?.source_hidden, `${file} cell ${i + 1}: hidden`).toBe(true);
        const outputs = solution.outputs ?? [];
        expect(outputs.length, `${file} cell ${i + 1}: the solution printed its result`).toBeGreaterThan(0);
        expect(outputs.filter((o) => o.output_type === "error"), `${file} cell ${i + 1}`).toEqual([]);
      }
    }
  });

  it("gives the same outputs, cell by cell, when Debian's nbconvert runs the notebooks on the installed kernel", async (ctx) => {
    await needJupyter(ctx);
    const prefix = join(work, "prefix");
    const install = await runCommand(process.execPath, [CLI, "kernel", "install", "--prefix", prefix]);
    expect(install.status, install.stderr).toBe(0);
    const env = {
      ...process.env,
      JUPYTER_PATH: join(prefix, "share", "jupyter"),
      JUPYTER_RUNTIME_DIR: join(work, "runtime"),
      JUPYTER_DATA_DIR: join(work, "jupyter-data"),
      LEPTON_DATA_DIR: join(work, "no-data"),
    };
    const again = join(work, "nbconvert");
    for (const { file } of course.notebooks) {
      // The executed copy carries the injected quick-mode parameters; nbconvert runs it afresh.
      const res = await runCommand(PYTHON, ["-m", "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.kernel_name=lepton",
        "--ExecutePreprocessor.timeout=900", "--output-dir", again, join(out, file)], { env, timeoutMs: 1_000_000 });
      expect(res.status, `${file}: ${res.stderr.slice(-3000)}`).toBe(0);
      expect(shape(read(join(again, file))), file).toEqual(shape(read(join(out, file))));
    }
  }, 1_500_000);
});
