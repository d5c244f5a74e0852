/**
 * Executed notebooks are trusted by Jupyter: lepton's notary (src/kernel/notary.ts) must compute the same
 * signature as nbformat's NotebookNotary and write it where Jupyter looks, so JupyterLab keeps a
 * notebook's HTML and charts. Jupyter's own notary (Debian's nbformat, via /usr/bin/python3) is the
 * judge: it checks what lepton signed, and signs notebooks lepton must then find trusted.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { CLI, PYTHON, ensureBuilt, needJupyter, runCommand } from "./kernel_helpers";
import {
  NotebookJsonError,
  computeSignature,
  isTrusted,
  notaryDataDir,
  parsePythonJson,
  pythonFloatRepr,
  signNotebook,
  trustExecutedNotebook,
} from "../src/kernel/notary";

const work = realpathSync(mkdtempSync(join(tmpdir(), "lepton-notary-")));
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(() => ensureBuilt());

let dirs = 0;
/** A fresh, empty Jupyter data folder. */
const freshDataDir = () => join(work, `data-${++dirs}`);

/** Jupyter's notary on each notebook: {trusted, signature}; `sign` first signs it as `jupyter trust` does. */
async function pythonNotary(mode: "check" | "sign", dataDir: string, files: string[]): Promise<Record<string, { trusted: boolean; signature: string }>> {
  const script = `
import json, os, sys, nbformat
from nbformat.sign import NotebookNotary
mode, data_dir, *paths = sys.argv[1:]
os.makedirs(data_dir, exist_ok=True)  # Jupyter creates its data folder before the notary writes a secret there
notary = NotebookNotary(data_dir=data_dir)
out = {}
for p in paths:
    with open(p, encoding="utf8") as f:
        nb = nbformat.read(f, as_version=4)
    if mode == "sign":
        notary.sign(nb)
    out[p] = {"trusted": notary.check_signature(nb), "signature": notary.compute_signature(nb)}
notary.store.close()
print(json.dumps(out))
`;
  const res = await runCommand(PYTHON, ["-c", script, mode, dataDir, ...files], { timeoutMs: 120_000 });
  expect(res.status, res.stderr).toBe(0);
  return JSON.parse(res.stdout);
}

function lepton(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 240_000) {
  return runCommand(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeoutMs });
}

// Notebooks with awkward content, written as JSON *text*: Python tells 1.0 (float) from 1 (int) by the text.
const meta = (extra: string) => `"metadata": {"kernelspec": {"name": "lepton", "display_name": "Lepton"}${extra}}`;
const CASES: Record<string, string> = {
  numbers: `{"cells": [{"cell_type": "code", "execution_count": 3, "metadata": {"nums": [1e-05, 0.1, 1.0, 100.0, 1e21, 1E5, 1e16, 1e15,
    0.0001, 0.00001234, 123456789012345678901234567890, -0, -0.0, 0.0, 5e-324, 1.7976931348623157e308, 2.5, -1.5e-7, 1e400,
    NaN, Infinity, -Infinity, 3, -42, 9007199254740993, 1.5e300, 12345678.9]}, "outputs": [], "source": "1.0"}],
    ${meta(`, "version": 1.0`)}, "nbformat": 4, "nbformat_minor": 4}`,
  literals: `{"cells": [{"cell_type": "code", "execution_count": null, "metadata": {"collapsed": false, "scrolled": true, "x": null,
    "dup": 1, "dup": 2.0}, "outputs": [], "source": []}], ${meta(`, "flags": [true, false, null]`)}, "nbformat": 4, "nbformat_minor": 4}`,
  unicode: `{"cells": [{"cell_type": "markdown", "id": "u-1", "metadata": {"\\ue000": 1, "😀": 2, "a": 3, "\\uffff": 4, "é": 5, "\\ud83d\\ude01": 6},
    "source": ["# é ü ß 中文\\n", "astral 😀 \\ud83d\\ude00 𝔸\\n", "separators \u2028 \\u2028 \\u2029 and a tab\\t\\n", "quote \\" slash \\/ back \\\\"]}],
    ${meta("")}, "nbformat": 4, "nbformat_minor": 5}`,
  outputs: JSON.stringify({
    cells: [{
      cell_type: "code", id: "out-1", execution_count: 7, metadata: { tags: ["x"] }, source: ["const a = 1;\n", "a"],
      outputs: [
        { output_type: "stream", name: "stdout", text: ["line 1\n", "line 2\n", "no newline"] },
        { output_type: "stream", name: "stderr", text: "already a string\n" },
        { output_type: "execute_result", execution_count: 7, metadata: {}, data: { "text/plain": ["1\n", "2"], "text/html": ["<b>\n", "bold</b>"] } },
        {
          output_type: "display_data", metadata: { "image/png": { width: 10 } },
          data: {
            "application/vnd.plotly.v1+json": { data: [{ y: [0.1, 1e-7, 2.5, 3], x: ["a\n", "b"] }], layout: { title: { text: "fig" }, width: 400.5 } },
            "application/json": { lines: ["kept\n", "as a list"] },
            "image/png": ["iVBORw0KGgo=\n", "AAAA"],
            "text/plain": "a figure",
          },
        },
        { output_type: "error", ename: "RangeError", evalue: "bad", traceback: ["line a", "line b"] },
      ],
    }, { cell_type: "markdown", id: "md-1", metadata: {}, source: ["![x](attachment:a.png)"], attachments: { "a.png": { "image/png": ["aa\n", "bb"] } } }],
    metadata: { kernelspec: { name: "lepton", display_name: "Lepton" }, language_info: { name: "typescript" } },
    nbformat: 4,
    nbformat_minor: 5,
  }, null, 1),
  // Fields nbformat drops on reading: the old signature, cell "trusted" flags, orig_nbformat.
  transient: `{"cells": [{"cell_type": "code", "id": "t-1", "execution_count": 1, "metadata": {"trusted": true}, "outputs": [], "source": "x"}],
    ${meta(`, "signature": "sha256:0000", "orig_nbformat": 3, "orig_nbformat_minor": 0`)}, "nbformat": 4, "nbformat_minor": 5}`,
  empty: `{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}`,
};

function writeCases(dir: string): Record<string, string> {
  mkdirSync(dir, { recursive: true });
  const files: Record<string, string> = {};
  for (const [name, text] of Object.entries(CASES)) {
    files[name] = join(dir, `${name}.ipynb`);
    writeFileSync(files[name], text);
  }
  return files;
}

describe("Python's view of JSON", () => {
  it("pythonFloatRepr matches Python's repr(float) for edge cases and random doubles", async (ctx) => {
    await needJupyter(ctx);
    const values = [1e-5, 1e-4, 0.1, 1, 100, 1e15, 1e16, 1e21, 5e-324, 1.7976931348623157e308, 2.5, -1.5e-7, 123456789.123, 0.30000000000000004, -0, 0];
    for (let i = 0; i < 3000; i++) {
      const bits = new DataView(new ArrayBuffer(8));
      bits.setUint32(0, (Math.random() * 2 ** 32) >>> 0);
      bits.setUint32(4, (Math.random() * 2 ** 32) >>> 0);
      const x = bits.getFloat64(0);
      if (Number.isFinite(x)) values.push(x);
      values.push(Math.random() * 10 ** Math.floor(Math.random() * 40 - 20));
    }
    const text = values.map((v) => (Object.is(v, -0) ? "-0.0" : v.toExponential())).join("\n");
    const res = await runCommand(PYTHON, ["-c", "import sys\nfor l in sys.stdin.read().split():\n    print(repr(float(l)))"], { input: text });
    expect(res.status, res.stderr).toBe(0);
    expect(values.map(pythonFloatRepr)).toEqual(res.stdout.trim().split("\n"));
  });

  it("numbers keep their int/float nature from the JSON text; lone surrogates are refused like Python's encode", () => {
    const v = parsePythonJson(`[1, 1.0, -0, -0.0, 1e5, 10000000000000000000001, true, null, NaN]`) as { str: string }[];
    expect(v.map((x) => x.str)).toEqual(["1", "1.0", "0", "-0.0", "100000.0", "10000000000000000000001", "True", "None", "nan"]);
    expect(() => parsePythonJson(`{"a": "raw\u0001control"}`)).toThrow(NotebookJsonError);
    const lone = `{"cells": [], "metadata": {"x": "\\ud800"}, "nbformat": 4, "nbformat_minor": 4}`;
    expect(() => computeSignature({ json: lone }, { secret: Buffer.from("k") })).toThrow(/unpaired surrogate/);
  });

  it("Jupyter's data folder is found as jupyter_core finds it", () => {
    expect(notaryDataDir({ JUPYTER_DATA_DIR: "/j", HOME: "/h" }, "linux")).toBe("/j");
    expect(notaryDataDir({ HOME: "/h" }, "linux")).toBe(join("/h", ".local", "share", "jupyter"));
    expect(notaryDataDir({ HOME: "/h", XDG_DATA_HOME: "/x" }, "linux")).toBe(join("/x", "jupyter"));
    expect(notaryDataDir({ HOME: "/h" }, "darwin")).toBe(join("/h", "Library", "Jupyter"));
    expect(notaryDataDir({ APPDATA: "/a", USERPROFILE: "/u" }, "win32")).toBe(join("/a", "jupyter"));
    expect(notaryDataDir({ USERPROFILE: "/u" }, "win32")).toBe(join("/u", ".jupyter", "data"));
    expect(notaryDataDir({ USERPROFILE: "/u", JUPYTER_CONFIG_DIR: "/c" }, "win32")).toBe(join("/c", "data"));
  });
});

describe("lepton's notary agrees with Jupyter's", () => {
  it("lepton signs awkward notebooks and Jupyter's notary trusts each of them", async (ctx) => {
    await needJupyter(ctx);
    const dataDir = freshDataDir();
    const files = writeCases(join(work, "lepton-signs"));
    const ours: Record<string, string> = {};
    for (const [name, file] of Object.entries(files)) {
      const result = signNotebook(file, { dataDir });
      expect(result.warning, name).toBeUndefined();
      ours[name] = result.signature;
      expect(isTrusted(file, { dataDir }), name).toBe(true);
    }
    // Created as nbformat creates them: a base64 secret in 76-character lines, readable by the user only.
    const secret = readFileSync(join(dataDir, "notebook_secret"), "utf8");
    expect(secret).toMatch(/^([A-Za-z0-9+/=]{76}\n){18}$/); // Python's base64.encodebytes(os.urandom(1024))
    expect(Buffer.from(secret, "base64")).toHaveLength(1024);
    if (process.platform !== "win32") expect(statSync(join(dataDir, "notebook_secret")).mode & 0o777).toBe(0o600);
    const theirs = await pythonNotary("check", dataDir, Object.values(files));
    for (const [name, file] of Object.entries(files)) {
      expect(theirs[file], name).toEqual({ trusted: true, signature: ours[name] });
    }
    // Signing again is "already signed", and the database still has one row per notebook.
    expect(signNotebook(files.numbers, { dataDir }).alreadySigned).toBe(true);
    const rows = await runCommand(PYTHON, ["-c", `import sqlite3,sys\ndb=sqlite3.connect(sys.argv[1], detect_types=sqlite3.PARSE_DECLTYPES)\n` +
      `print(db.execute("select count(*), count(distinct signature), min(algorithm), typeof(min(last_seen)) from nbsignatures").fetchone())\n` +
      `print(type(db.execute("select last_seen from nbsignatures").fetchone()[0]).__name__)`, join(dataDir, "nbsignatures.db")]);
    expect(rows.stdout.trim().split("\n"), rows.stderr).toEqual([`(${Object.keys(files).length}, ${Object.keys(files).length}, 'sha256', 'text')`, "datetime"]);
  });

  it("Jupyter signs the same notebooks and lepton finds them trusted, with the same signatures", async (ctx) => {
    await needJupyter(ctx);
    const dataDir = freshDataDir();
    const files = writeCases(join(work, "python-signs"));
    const theirs = await pythonNotary("sign", dataDir, Object.values(files));
    for (const [name, file] of Object.entries(files)) {
      expect(theirs[file].trusted, name).toBe(true);
      expect(computeSignature(file, { dataDir }), name).toBe(theirs[file].signature);
      expect(isTrusted(file, { dataDir }), name).toBe(true);
    }
  });

  it("a notebook changed after signing is not trusted, by either notary", async (ctx) => {
    await needJupyter(ctx);
    const dataDir = freshDataDir();
    const file = join(work, "changed.ipynb");
    writeFileSync(file, CASES.numbers);
    signNotebook(file, { dataDir });
    // The same value written as an int instead of a float is a different notebook to Python.
    writeFileSync(file, CASES.numbers.replace(`"version": 1.0`, `"version": 1`));
    expect(isTrusted(file, { dataDir })).toBe(false);
    expect((await pythonNotary("check", dataDir, [file]))[file].trusted).toBe(false);
    // Nothing signed yet (no secret, no database): untrusted, and checking creates no file.
    const empty = freshDataDir();
    expect(isTrusted(file, { dataDir: empty })).toBe(false);
    expect(existsSync(empty)).toBe(false);
  });
});

/** A small notebook with HTML, a plotly chart and unicode output, for the real `lepton run`. */
function chartNotebook(name: string): string {
  const file = join(work, name);
  const code = (id: string, source: string) => ({ cell_type: "code", id, metadata: {}, execution_count: null, outputs: [], source });
  writeFileSync(file, JSON.stringify({
    cells: [
      code("c1", `import * as lepton from "lepton";\nlepton.html("<b>bold</b>")`),
      code("c2", `lepton.display(lepton.mime({ "application/vnd.plotly.v1+json": { data: [{ y: [0.1, 1e-7, 2.5, 3] }], layout: { width: 400.5 } }, "text/plain": "fig" }))`),
      code("c3", `console.log("é 😀 \\u2028 done"); 1.5`),
    ],
    metadata: {},
    nbformat: 4,
    nbformat_minor: 5,
  }, null, 1));
  return file;
}

describe("lepton run and lepton trust sign what they write", () => {
  it("lepton run writes a notebook Jupyter trusts; with --no-trust it does not", async (ctx) => {
    await needJupyter(ctx);
    const dataDir = freshDataDir();
    const nb = chartNotebook("chart.ipynb");
    const res = await lepton(["run", nb, "--out", join(work, "out-trusted"), "--quiet"], { JUPYTER_DATA_DIR: dataDir });
    expect(res.status, res.stderr).toBe(0);
    expect(res.stderr).not.toContain("warning");
    const out = join(work, "out-trusted", "chart.ipynb");
    expect(readFileSync(out, "utf8")).toContain("application/vnd.plotly.v1+json");
    expect((await pythonNotary("check", dataDir, [out]))[out].trusted).toBe(true);

    const plainDir = freshDataDir();
    const plain = await lepton(["run", nb, "--out", join(work, "out-plain"), "--quiet", "--no-trust"], { JUPYTER_DATA_DIR: plainDir });
    expect(plain.status, plain.stderr).toBe(0);
    expect(existsSync(join(plainDir, "nbsignatures.db"))).toBe(false);
    const plainOut = join(work, "out-plain", "chart.ipynb");
    expect((await pythonNotary("check", plainDir, [plainOut]))[plainOut].trusted).toBe(false);
  });

  it("a run that stops at an error is still written and signed", async (ctx) => {
    await needJupyter(ctx);
    const dataDir = freshDataDir();
    const res = await lepton(["run", join(__dirname, "fixtures", "notebooks", "failing.ipynb"), "--out", join(work, "out-failing"), "--quiet"], { JUPYTER_DATA_DIR: dataDir });
    expect(res.status).toBe(1);
    const out = join(work, "out-failing", "failing.ipynb");
    expect(readFileSync(out, "utf8")).toContain("RangeError");
    expect((await pythonNotary("check", dataDir, [out]))[out].trusted).toBe(true);
  });

  it("lepton course signs the notebooks it writes; with --no-trust it does not", async (ctx) => {
    await needJupyter(ctx);
    const nb = chartNotebook("course-chart.ipynb");
    const dataDir = freshDataDir();
    const res = await lepton(["course", "--notebook", nb, "--out", join(work, "course-trusted"), "--no-html"], { JUPYTER_DATA_DIR: dataDir });
    expect(res.status, `${res.stdout}\n${res.stderr}`).toBe(0);
    expect(res.stdout).not.toContain("warning");
    const out = join(work, "course-trusted", "course-chart.ipynb");
    expect((await pythonNotary("check", dataDir, [out]))[out].trusted).toBe(true);

    const plainDir = freshDataDir();
    const plain = await lepton(["course", "--notebook", nb, "--out", join(work, "course-plain"), "--no-html", "--no-trust"], { JUPYTER_DATA_DIR: plainDir });
    expect(plain.status, `${plain.stdout}\n${plain.stderr}`).toBe(0);
    const plainOut = join(work, "course-plain", "course-chart.ipynb");
    expect(existsSync(plainOut)).toBe(true);
    expect((await pythonNotary("check", plainDir, [plainOut]))[plainOut].trusted).toBe(false);
  });

  it("lepton trust signs notebooks like jupyter trust, and --check reports it", async (ctx) => {
    await needJupyter(ctx);
    const dataDir = freshDataDir();
    const files = writeCases(join(work, "cli-trust"));
    const env = { JUPYTER_DATA_DIR: dataDir };
    expect((await lepton(["trust", "--check", files.outputs], env)).status).toBe(1);
    const res = await lepton(["trust", files.outputs, files.unicode], env);
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toBe(`Signing notebook: ${files.outputs}\nSigning notebook: ${files.unicode}\n`);
    expect((await lepton(["trust", files.outputs], env)).stdout).toBe(`Notebook already signed: ${files.outputs}\n`);
    const check = await lepton(["trust", "--check", files.outputs], env);
    expect(check.status, check.stderr).toBe(0);
    expect(check.stdout).toBe(`Trusted: ${files.outputs}\n`);
    const theirs = await pythonNotary("check", dataDir, [files.outputs, files.unicode]);
    expect(Object.values(theirs).map((t) => t.trusted)).toEqual([true, true]);
    const missing = await lepton(["trust", join(work, "nope.ipynb")], env);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("no such notebook");
  });
});

describe("signing never costs the executed notebook", () => {
  it("a corrupt database: the notebook is still written, and a warning says how to trust it", async () => {
    const dataDir = freshDataDir();
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, "nbsignatures.db"), "this is not an SQLite database, ".repeat(50));
    const nb = chartNotebook("corrupt-db.ipynb");
    const res = await lepton(["run", nb, "--out", join(work, "out-corrupt"), "--quiet"], { JUPYTER_DATA_DIR: dataDir });
    expect(res.status, res.stderr).toBe(0);
    const out = join(work, "out-corrupt", "corrupt-db.ipynb");
    expect(JSON.parse(readFileSync(out, "utf8")).cells).toHaveLength(3);
    expect(res.stderr).toContain("lepton run: warning: could not mark");
    expect(res.stderr).toContain("is damaged");
    expect(res.stderr).toContain(`jupyter trust ${JSON.stringify(out)}`);
    expect(res.stderr.match(/warning/g)).toHaveLength(1);
    // The damaged database is left as it was, for Jupyter to move aside.
    expect(readFileSync(join(dataDir, "nbsignatures.db"), "utf8")).toMatch(/^this is not/);
  });

  it("a data folder that cannot be created: the notebook is still written, with one warning", async () => {
    writeFileSync(join(work, "a-file"), "");
    const dataDir = join(work, "a-file", "jupyter"); // a file where a folder should be: fails even for root
    const nb = chartNotebook("unwritable.ipynb");
    const res = await lepton(["run", nb, "--out", join(work, "out-unwritable"), "--quiet"], { JUPYTER_DATA_DIR: dataDir });
    expect(res.status, res.stderr).toBe(0);
    expect(existsSync(join(work, "out-unwritable", "unwritable.ipynb"))).toBe(true);
    expect(res.stderr).toContain("could not mark");
    expect(res.stderr).toContain("jupyter trust");
    expect(res.stderr).not.toMatch(/at Object\.|at async/); // a message, not a stack
  });

  it("a locked database is retried, and a lock that stays gives a warning instead of an error", async () => {
    const dataDir = freshDataDir();
    const file = join(work, "locked.ipynb");
    writeFileSync(file, CASES.literals);
    signNotebook(file, { dataDir }); // creates the secret and the database
    writeFileSync(file, CASES.numbers);
    // Another writer holds node-sqlite3-wasm's lock for 300 ms: the retry waits for it.
    const lock = join(dataDir, "nbsignatures.db.lock");
    mkdirSync(lock);
    const release = spawn("sh", ["-c", `sleep 0.3; rmdir '${lock}'`]);
    const released = new Promise((r) => release.on("close", r));
    expect(signNotebook(file, { dataDir }).alreadySigned).toBe(false);
    await released;
    expect(isTrusted(file, { dataDir })).toBe(true);
    // A lock nobody releases: one warning naming the stale lock folder.
    mkdirSync(lock);
    writeFileSync(file, CASES.transient);
    const warnings: string[] = [];
    expect(trustExecutedNotebook(file, { dataDir, warn: (l) => warnings.push(l) })).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("stayed locked");
    expect(warnings[0]).toContain(lock);
    expect(warnings[0]).toContain("jupyter trust");
  }, 30_000);
});
