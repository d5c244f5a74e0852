/**
 * `lepton run` and `lepton course` never lose a run (issue 13, item 4): everything that can be checked
 * before the first cell is checked (the output folder, the notebook's shape, every -p name and value),
 * and the executed notebook is saved as cells finish, so a killed run keeps what ran. The real CLI runs
 * small notebooks written into a temporary folder.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { CLI, PYTHON, ensureBuilt, needJupyter, runCommand } from "./kernel_helpers";

const work = realpathSync(mkdtempSync(join(tmpdir(), "lepton-run-safety-")));
afterAll(() => {
  try {
    chmodSync(join(work, "readonly"), 0o755);
  } catch {}
  rmSync(work, { recursive: true, force: true });
});
beforeAll(() => ensureBuilt());

/** Runs sign what they write: into a scratch Jupyter data folder, never the user's. */
const scratchEnv = { ...process.env, JUPYTER_DATA_DIR: mkdtempSync(join(tmpdir(), "lepton-run-safety-jupyter-data-")) };

function lepton(args: string[], timeoutMs = 240_000) {
  return runCommand(process.execPath, [CLI, ...args], { timeoutMs, env: scratchEnv });
}

const code = (source: unknown, tags?: string[]) => ({ cell_type: "code", metadata: tags ? { tags } : {}, execution_count: null, outputs: [], source });

function writeNotebook(name: string, cells: unknown[]): string {
  const file = join(work, name);
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(file, JSON.stringify({ cells, metadata: {}, nbformat: 4, nbformat_minor: 4 }));
  return file;
}

const text = (v: unknown) => (Array.isArray(v) ? v.join("") : String(v));

/** A notebook with a parameters cell; its second cell writes a marker file, so "nothing ran" can be checked. */
function paramsNotebook(name: string): string {
  return writeNotebook(name, [
    code(`const epochs = 2;\nlet layers = [8];\nconst label = "default"; // a comment\n`, ["parameters"]),
    code(`require("fs").writeFileSync(${JSON.stringify(join(work, name + ".ran"))}, "x");\nconsole.log(JSON.stringify({ epochs, layers, label }))`),
  ]);
}

async function expectRefused(args: string[], message: string | RegExp, ran?: string) {
  const res = await lepton(args);
  expect(res.status, res.stderr).toBe(2);
  if (typeof message === "string") expect(res.stderr).toContain(message);
  else expect(res.stderr).toMatch(message);
  expect(res.stderr).not.toMatch(/TypeError|at Object\.|at async/); // a message, not a stack
  if (ran) expect(existsSync(ran), `${ran} exists: a cell ran`).toBe(false);
  return res;
}

describe("lepton run checks everything before the first cell", () => {
  it("an output folder that cannot be written is refused before anything runs", async () => {
    const nb = paramsNotebook("out-check.ipynb");
    writeFileSync(join(work, "a-file"), "");
    // A mistyped --out (a file where a folder should be): ENOTDIR at the end, before.
    await expectRefused([ "run", nb, "--out", join(work, "a-file", "sub") ], `cannot create the output folder ${join(work, "a-file", "sub")}`, nb + ".ran");
    // A read-only folder (root may write anywhere, so this part needs an ordinary user).
    if (process.getuid?.() !== 0) {
      const ro = join(work, "readonly");
      mkdirSync(ro);
      chmodSync(ro, 0o555);
      await expectRefused(["run", nb, "--out", ro], `cannot write to the output folder ${ro}: permission denied`, nb + ".ran");
    }
    // A missing folder is created (and the probe file is gone).
    const fresh = join(work, "new", "deep", "out");
    const ok = await lepton(["run", nb, "--out", fresh, "--quiet"]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(readdirSync(fresh)).toEqual(["out-check.ipynb"]);
  });

  it("-p names must be declared in the parameters cell, with a suggestion; reserved words and __proto__ are refused", async () => {
    const nb = paramsNotebook("names.ipynb");
    const ran = nb + ".ran";
    const out = join(work, "names-out");
    const typo = await expectRefused(["run", nb, "--out", out, "-p", "epocs=3"], "declares no epocs; did you mean epochs?", ran);
    expect(typo.stderr).toContain("It declares: epochs, layers, label.");
    await expectRefused(["run", nb, "--out", out, "-p", "class=1"], `bad parameter name "class"`, ran);
    await expectRefused(["run", nb, "--out", out, "-p", "__proto__={\"epochs\":9}"], `bad parameter name "__proto__"`, ran);
    await expectRefused(["run", nb, "--out", out, "-p", "1st=1"], "must be a TypeScript identifier", ran);
    expect(existsSync(out)).toBe(false);
  });

  it("a notebook without a parameters cell refuses -p and says to tag one", async () => {
    const nb = writeNotebook("untagged.ipynb", [code(`const epochs = 2;`), code(`require("fs").writeFileSync("untagged.ran", "x")`)]);
    const res = await expectRefused(["run", nb, "-p", "epochs=3"], `has no cell tagged "parameters"`, join(work, "untagged.ran"));
    expect(res.stderr).toContain(`add "tags": ["parameters"]`);
  });

  it("-p values: JSON when valid, else a string; broken JSON and non-finite or non-JSON numbers are refused", async () => {
    const nb = paramsNotebook("values.ipynb");
    const ran = nb + ".ran";
    const out = join(work, "values-out");
    await expectRefused(["run", nb, "--out", out, "-p", "epochs=1e999"], /-p epochs: "1e999" has a number too large .*Infinity/, ran);
    await expectRefused(["run", nb, "--out", out, "-p", "layers=[1e999]"], /-p layers: .*the value\[0\] becomes Infinity/, ran);
    await expectRefused(["run", nb, "--out", out, "-p", "layers=[64,32"], `-p layers: "[64,32" starts like JSON but is not valid JSON`, ran);
    await expectRefused(["run", nb, "--out", out, "-p", `label="unterminated`], `-p label:`, ran);
    await expectRefused(["run", nb, "--out", out, "-p", "epochs=.5"], "is not a JSON number (write it as 0.5)", ran);
    await expectRefused(["run", nb, "--out", out, "-p", "epochs=NaN"], "JSON has no NaN or Infinity", ran);
    // Accepted: a number, an array, a plain string, a quoted string; a string for a number default warns.
    const ok = await lepton(["run", nb, "--out", out, "-p", "epochs=3", "-p", "layers=[64, 32]", "-p", "label=plain text"]);
    expect(ok.status, ok.stderr).toBe(0);
    const executed = JSON.parse(readFileSync(join(out, "values.ipynb"), "utf8"));
    expect(text(executed.cells[2].outputs[0].text)).toBe(`{"epochs":3,"layers":[64,32],"label":"plain text"}\n`);
    const quoted = await lepton(["run", nb, "--out", out, "-p", `epochs="3"`, "-p", `label="[not json]"`]);
    expect(quoted.status, quoted.stderr).toBe(0);
    expect(quoted.stderr).toContain(`warning: ${nb}: -p epochs: the parameters cell sets a number (2), and "3" is a string`);
    const again = JSON.parse(readFileSync(join(out, "values.ipynb"), "utf8"));
    expect(text(again.cells[2].outputs[0].text)).toBe(`{"epochs":"3","layers":[8],"label":"[not json]"}\n`);
  });

  it("a malformed notebook is refused with the cell index and what to fix, not a TypeError", async () => {
    const ran = join(work, "malformed.ran");
    const first = code(`require("fs").writeFileSync("malformed.ran", "x")`);
    const cases: [unknown[], string][] = [
      [[first, null], "cell 2 (cells[1]) is null: each cell must be an object"],
      [[first, code(5)], `cell 2 (cells[1]) (code): "source" is number (5): it must be a string or a list of strings`],
      [[first, code(["a", 3])], `"source" is a list with a non-string item`],
      [[first, { cell_type: "cod", metadata: {}, source: "" }], `cell 2 (cells[1]) has cell_type "cod": it must be "code", "markdown" or "raw"`],
      [[first, { ...code("1"), metadata: { tags: "parameters" } }], `metadata "tags" must be a list of strings`],
    ];
    for (const [i, [cells, message]] of cases.entries()) {
      await expectRefused(["run", writeNotebook(`malformed-${i}.ipynb`, cells)], message, ran);
    }
    writeFileSync(join(work, "nocells.ipynb"), JSON.stringify({ nbformat: 4, nbformat_minor: 4, metadata: {}, cells: { a: 1 } }));
    await expectRefused(["run", join(work, "nocells.ipynb")], `"cells" is object, not a list`);
    writeFileSync(join(work, "v3.ipynb"), JSON.stringify({ nbformat: 3, worksheets: [] }));
    await expectRefused(["run", join(work, "v3.ipynb")], "nbformat 3 is not supported");
    writeFileSync(join(work, "notjson.ipynb"), "{ nope");
    await expectRefused(["run", join(work, "notjson.ipynb")], "is not valid JSON");
    // With several notebooks, a bad second one stops the run before the first one's cells.
    await expectRefused(["run", writeNotebook("good-first.ipynb", [first]), join(work, "v3.ipynb")], "nbformat 3", ran);
  });
});

describe("the executed notebook is saved as cells finish", () => {
  it("a SIGKILL of lepton run during a long cell keeps the first cell's output in a notebook that parses", async () => {
    const nb = writeNotebook("killed.ipynb", [
      code(`console.log(JSON.stringify({ kernel: process.pid, lepton: Number(process.env.JPY_PARENT_PID) }))`),
      code(`for (;;) await new Promise((r) => setTimeout(r, 50));`),
    ]);
    const out = join(work, "killed-out");
    const file = join(out, "killed.ipynb");
    // --timeout: should the kill not happen, the run still ends by itself (no kernel left looping).
    const run = lepton(["run", nb, "--out", out, "--timeout", "100"], 200_000);
    let pids: { kernel: number; lepton: number } | undefined;
    try {
      // Wait for the first cell's output to be on disk (the second cell is then running).
      const deadline = Date.now() + 90_000;
      while (!pids && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        try {
          const partial = JSON.parse(readFileSync(file, "utf8"));
          const outputs = partial.cells[0].outputs;
          if (outputs.length) pids = JSON.parse(text(outputs[0].text));
        } catch {}
      }
      expect(pids, "the first cell's output was never written").toBeDefined();
      process.kill(pids!.lepton, "SIGKILL");
      const res = await run;
      expect(res.signal).toBe("SIGKILL");
      const kept = JSON.parse(readFileSync(file, "utf8"));
      expect(kept.cells[0].execution_count).toBe(1);
      expect(kept.cells[0].outputs).toEqual([{ output_type: "stream", name: "stdout", text: [expect.stringContaining(`"kernel":${pids!.kernel}`)] }]);
      expect(kept.cells[1].outputs).toEqual([]);
      expect(readdirSync(out)).toEqual(["killed.ipynb"]); // no temporary file left
      if (await needJupyter()) {
        const valid = await runCommand(PYTHON, ["-c", "import nbformat,sys; nbformat.validate(nbformat.read(sys.argv[1], 4))", file], { timeoutMs: 60_000 });
        expect(valid.status, valid.stderr).toBe(0);
      }
    } finally {
      if (pids) {
        try {
          process.kill(pids.kernel, "SIGKILL"); // the kernel also ends by itself when its parent is gone
        } catch {}
      }
      await run.catch(() => undefined);
    }
  }, 240_000);
});

describe("lepton course --notebook", () => {
  it("runs a user's own notebook with the same checks, output folder and summary", async () => {
    const mine = writeNotebook("mine/my_notebook.ipynb", [code(`const answer = 6 * 7;\nconsole.log("answer", answer)`)]);
    const out = join(work, "course-out");
    const res = await runCommand(process.execPath, [CLI, "course", "--notebook", mine, "--out", out, "--no-html"], { timeoutMs: 240_000, env: scratchEnv });
    expect(res.status, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toMatch(/ok\s+.*my_notebook\.ipynb/);
    expect(res.stdout).toContain("1 passed, 0 failed");
    const executed = JSON.parse(readFileSync(join(out, "my_notebook.ipynb"), "utf8"));
    expect(text(executed.cells[0].outputs[0].text)).toBe("answer 42\n");
    const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
    expect(summary.notebooks).toEqual([expect.objectContaining({ notebook: expect.stringContaining("my_notebook.ipynb"), ok: true })]);
    // The same checks: a malformed notebook is refused before anything runs.
    const bad = writeNotebook("mine/bad.ipynb", [code(`require("fs").writeFileSync("bad.ran", "x")`), null]);
    const refused = await runCommand(process.execPath, [CLI, "course", "--notebook", mine, "--notebook", bad, "--out", join(work, "course-bad"), "--no-html"], { timeoutMs: 240_000, env: scratchEnv });
    expect(refused.status, refused.stdout + refused.stderr).toBe(2);
    expect(refused.stderr).toContain("cell 2 (cells[1]) is null");
    expect(existsSync(join(work, "mine", "bad.ran"))).toBe(false);
  });
});
