/**
 * The `lepton` command: kernel spec install/list/uninstall (checked with Debian's `jupyter kernelspec`),
 * `lepton run` (parameters, nbformat 4.5 output, first-error report) and a peer cross-check: Debian's
 * nbclient runs the same notebook on the installed kernel and gets the same outputs as `lepton run`.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { CLI, JUPYTER_APT_PACKAGES, PYTHON, ROOT, ensureBuilt, needJupyter, runCommand } from "./kernel_helpers";

const FIXTURES = join(ROOT, "test", "fixtures", "notebooks");
const work = realpathSync(mkdtempSync(join(tmpdir(), "lepton-cli-test-")));

/** The user's own Jupyter data folder (kernels, notary) is never touched: runs sign into a scratch one. */
const scratchJupyterData = mkdtempSync(join(tmpdir(), "lepton-cli-jupyter-data-"));

function lepton(args: string[], env: NodeJS.ProcessEnv = { ...process.env, JUPYTER_DATA_DIR: scratchJupyterData }) {
  return runCommand(process.execPath, [CLI, ...args], { env });
}

function jupyter(args: string[], env: NodeJS.ProcessEnv) {
  return runCommand(PYTHON, ["-m", "jupyter", ...args], { env });
}

/** An environment whose Jupyter folders are all private to this test. */
function jupyterEnv(name: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const base = join(work, name);
  return {
    ...process.env,
    JUPYTER_DATA_DIR: join(base, "data"),
    JUPYTER_CONFIG_DIR: join(base, "config"),
    JUPYTER_RUNTIME_DIR: join(base, "runtime"),
    IPYTHONDIR: join(base, "ipython"),
    JUPYTER_PLATFORM_DIRS: "1",
    ...extra,
  };
}

const text = (v: unknown) => (Array.isArray(v) ? v.join("") : v);

/** Debian's nbformat validates `file` against the nbformat schema (left out, with a warning, without Jupyter). */
async function expectValidNotebook(file: string): Promise<void> {
  if (!(await needJupyter())) return;
  const res = await runCommand(PYTHON, ["-c", "import nbformat,sys; nbformat.validate(nbformat.read(sys.argv[1], as_version=4))", file]);
  expect(res.status, `${file} is not a valid notebook:\n${res.stderr.slice(-3000)}`).toBe(0);
}

/** A copy of this Node (a hard link, else a copy) at PREFIX/bin/node: Node "installed" under PREFIX. */
function nodeUnder(prefix: string): string {
  const node = join(prefix, "bin", "node");
  mkdirSync(join(prefix, "bin"), { recursive: true });
  try {
    linkSync(process.execPath, node);
  } catch {
    copyFileSync(process.execPath, node);
    chmodSync(node, 0o755);
  }
  return node;
}

/** A code cell for a notebook written by a test. */
const cell = (source: string) => ({ cell_type: "code", metadata: {}, execution_count: null, outputs: [], source });
function writeNotebook(file: string, sources: string[]): string {
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(file, JSON.stringify({ cells: sources.map(cell), metadata: {}, nbformat: 4, nbformat_minor: 4 }));
  return file;
}

/** What a reader sees of a cell's outputs: type, stream text, data (lines joined), error name and value. */
function visible(outputs: any[]): any[] {
  const merged: any[] = [];
  for (const o of outputs) {
    const last = merged[merged.length - 1];
    if (o.output_type === "stream" && last?.output_type === "stream" && last.name === o.name) last.text += text(o.text);
    else if (o.output_type === "stream") merged.push({ output_type: "stream", name: o.name, text: text(o.text) });
    else if (o.output_type === "error") merged.push({ output_type: "error", ename: o.ename, evalue: o.evalue });
    else {
      const data = Object.fromEntries(Object.entries(o.data).map(([k, v]) => [k, text(v)]));
      merged.push({ output_type: o.output_type, data, ...(o.output_type === "execute_result" ? { execution_count: o.execution_count } : {}) });
    }
  }
  return merged;
}

beforeAll(() => {
  ensureBuilt();
});

describe("lepton (CLI)", () => {
  it("prints usage and fails on an unknown command", async () => {
    const res = await lepton(["frobnicate"]);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain("unknown command");
    expect(res.stderr).toContain("kernel install");
  });

  it("kernel install writes a spec with absolute paths, interrupt_mode and both logos; list and uninstall find it", async () => {
    const env = jupyterEnv("user");
    const res = await lepton(["kernel", "install"], env);
    expect(res.status, res.stderr).toBe(0);
    const dir = join(env.JUPYTER_DATA_DIR!, "kernels", "lepton");
    const spec = JSON.parse(readFileSync(join(dir, "kernel.json"), "utf8"));
    expect(spec.display_name).toBe("Lepton (TypeScript)");
    expect(spec.language).toBe("typescript");
    expect(spec.interrupt_mode).toBe(process.platform === "win32" ? "message" : "signal");
    expect(spec.argv[0]).toBe(process.execPath);
    expect(existsSync(spec.argv[1])).toBe(true);
    expect(spec.argv.slice(2)).toEqual(["-f", "{connection_file}"]);
    for (const size of [32, 64]) {
      const png = readFileSync(join(dir, `logo-${size}x${size}.png`));
      expect(png.readUInt32BE(16)).toBe(size); // IHDR width
      expect(png.readUInt32BE(20)).toBe(size); // IHDR height
    }
    const list = await lepton(["kernel", "list"], env);
    expect(list.stdout).toMatch(new RegExp(`lepton\\s+${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    const removed = await lepton(["kernel", "uninstall"], env);
    expect(removed.status, removed.stderr).toBe(0);
    expect(existsSync(dir)).toBe(false);
    expect((await lepton(["kernel", "uninstall"], env)).status).toBe(1);
  });

  it("kernel install refuses a bad name and an unknown option with a message", async () => {
    const bad = await lepton(["kernel", "install", "--name", "../evil"], jupyterEnv("bad"));
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("invalid kernel name");
    expect((await lepton(["kernel", "install", "--everywhere"], jupyterEnv("bad"))).stderr).toContain("unknown argument --everywhere");
  });

  it("kernel install --sys-prefix without a virtualenv refuses Node's prefix when Jupyter does not search it; --force installs and warns", async () => {
    const prefix = join(work, "node-prefix");
    const node = nodeUnder(prefix);
    const env = jupyterEnv("sys-prefix");
    for (const k of ["VIRTUAL_ENV", "CONDA_PREFIX", "JUPYTER_PATH"]) delete env[k];
    const data = join(prefix, "share", "jupyter");
    const target = join(data, "kernels", "lepton");
    const refused = await runCommand(node, [CLI, "kernel", "install", "--sys-prefix"], { env });
    expect(refused.status, refused.stdout + refused.stderr).toBe(1);
    expect(refused.stderr).toContain(`not installing into ${data}: Jupyter does not search that folder`);
    expect(refused.stderr).toContain("lepton kernel install --user");
    expect(refused.stderr).toContain(`Jupyter searches: ${env.JUPYTER_DATA_DIR}`);
    expect(existsSync(target)).toBe(false);
    const forced = await runCommand(node, [CLI, "kernel", "install", "--sys-prefix", "--force"], { env });
    expect(forced.status, forced.stderr).toBe(0);
    expect(forced.stderr).toContain(`warning: Jupyter does not search ${data}`);
    expect(JSON.parse(readFileSync(join(target, "kernel.json"), "utf8")).argv[0]).toBe(node);
    // --force is for install only.
    expect((await lepton(["kernel", "uninstall", "--force"], env)).stderr).toContain("unknown argument --force");
  });

  it("kernel install --sys-prefix: Debian's `jupyter kernelspec list` finds it when the prefix is searched; a virtualenv wins", async (ctx) => {
    await needJupyter(ctx);
    const prefix = join(work, "node-prefix-searched");
    const node = nodeUnder(prefix);
    const data = join(prefix, "share", "jupyter");
    const env = jupyterEnv("sys-prefix-searched", { JUPYTER_PATH: data });
    for (const k of ["VIRTUAL_ENV", "CONDA_PREFIX"]) delete env[k];
    const res = await runCommand(node, [CLI, "kernel", "install", "--sys-prefix"], { env });
    expect(res.status, res.stderr).toBe(0);
    expect(res.stderr).not.toContain("warning");
    const list = await jupyter(["kernelspec", "list", "--json"], env);
    expect(list.status, list.stderr).toBe(0);
    const specs = JSON.parse(list.stdout).kernelspecs;
    expect(specs.lepton.resource_dir).toBe(join(data, "kernels", "lepton"));
    expect(specs.lepton.spec.argv[0]).toBe(node);
    // With a virtualenv active, --sys-prefix means the virtualenv (a Jupyter installed there searches it).
    const venv = join(work, "venv");
    const inVenv = await runCommand(node, [CLI, "kernel", "install", "--sys-prefix", "--name", "lepton-venv"], { env: { ...env, VIRTUAL_ENV: venv } });
    expect(inVenv.status, inVenv.stderr).toBe(0);
    expect(existsSync(join(venv, "share", "jupyter", "kernels", "lepton-venv", "kernel.json"))).toBe(true);
  });

  it("needJupyter: a missing Jupyter skips outside CI and fails under CI, naming the apt packages", async () => {
    const missing = join(work, "no-such-python");
    const skipped: string[] = [];
    await expect(needJupyter({ skip: (note) => void skipped.push(String(note)) }, { python: missing, ci: false })).resolves.toBe(false);
    expect(skipped).toEqual([expect.stringContaining(missing)]);
    await expect(needJupyter(undefined, { python: missing, ci: false })).resolves.toBe(false);
    await expect(needJupyter(undefined, { python: missing, ci: true })).rejects.toThrow(`apt-get install -y ${JUPYTER_APT_PACKAGES}`);
  });

  it("Debian's `jupyter kernelspec list` sees installs into JUPYTER_DATA_DIR and --prefix", async (ctx) => {
    await needJupyter(ctx);
    const prefix = join(work, "prefix");
    const env = jupyterEnv("kernelspec", { JUPYTER_PATH: join(prefix, "share", "jupyter") });
    expect((await lepton(["kernel", "install", "--name", "lepton-user"], env)).status).toBe(0);
    expect((await lepton(["kernel", "install", "--prefix", prefix, "--name", "lepton-prefix"], env)).status).toBe(0);
    const res = await jupyter(["kernelspec", "list", "--json"], env);
    expect(res.status, res.stderr).toBe(0);
    const specs = JSON.parse(res.stdout).kernelspecs;
    expect(specs["lepton-user"].resource_dir).toBe(join(env.JUPYTER_DATA_DIR!, "kernels", "lepton-user"));
    expect(specs["lepton-prefix"].resource_dir).toBe(join(prefix, "share", "jupyter", "kernels", "lepton-prefix"));
    expect(specs["lepton-prefix"].spec.interrupt_mode).toBe("signal");
    expect(specs["lepton-prefix"].spec.language).toBe("typescript");
  });

  it("lepton run executes a notebook (in this repository's folders), injects -p parameters and writes nbformat 4.5", async () => {
    const out = join(work, "run-out");
    const res = await lepton(["run", join(FIXTURES, "outputs.ipynb"), "--out", out, "-p", "epochs=5", "-p", "label=from cli", "--timeout", "120"]);
    expect(res.status, res.stderr).toBe(0);
    const nb = JSON.parse(readFileSync(join(out, "outputs.ipynb"), "utf8"));
    expect(nb.nbformat).toBe(4);
    expect(nb.nbformat_minor).toBe(5);
    expect(nb.cells.every((c: any) => typeof c.id === "string" && c.id.length > 0)).toBe(true);
    expect(new Set(nb.cells.map((c: any) => c.id)).size).toBe(nb.cells.length);
    const tags = nb.cells.map((c: any) => c.metadata.tags?.[0] ?? null);
    expect(tags.indexOf("injected-parameters")).toBe(tags.indexOf("parameters") + 1);
    const injected = nb.cells[tags.indexOf("injected-parameters")];
    expect(text(injected.source)).toContain(`let epochs = 5;`);
    expect(text(injected.source)).toContain(`const label = "from cli";`);
    const shown = visible(nb.cells[3].outputs);
    expect(shown[0]).toEqual({ output_type: "stream", name: "stdout", text: "epochs 5 label from cli\n" });
    expect(shown[shown.length - 1]).toMatchObject({ output_type: "execute_result", data: { "text/plain": "50" } });
    expect(visible(nb.cells[4].outputs).pop()).toMatchObject({ data: { "text/plain": "10" } });
    const displays = visible(nb.cells[5].outputs);
    expect(displays[0].data["application/vnd.plotly.v1+json"]).toEqual({ data: [{ y: [3, 1, 2] }], layout: { title: "fig" } });
    expect(displays[1].data["text/plain"]).toBe("step 3");
    expect(displays[2]).toMatchObject({ output_type: "execute_result", data: { "text/html": "<b>bold</b>" } });
    const counts = nb.cells.filter((c: any) => c.cell_type === "code").map((c: any) => c.execution_count);
    expect(counts).toEqual([1, 2, 3, 4, 5, 6]);
    await expectValidNotebook(join(out, "outputs.ipynb"));
  });

  it("lepton run stops at the first error, prints the cell, error and traceback, and exits non-zero", async () => {
    const out = join(work, "fail-out");
    const res = await lepton(["run", join(FIXTURES, "failing.ipynb"), "--out", out]);
    expect(res.status).toBe(1);
    expect(res.stderr).toContain("failed in cell 2");
    expect(res.stderr).toContain(`explode();`);
    expect(res.stderr).toContain("RangeError: value out of range: 42");
    expect(res.stderr).toMatch(/at explode/);
    const nb = JSON.parse(readFileSync(join(out, "failing.ipynb"), "utf8"));
    expect(nb.cells[1].outputs).toEqual([expect.objectContaining({ output_type: "error", ename: "RangeError", evalue: "value out of range: 42" })]);
    expect(nb.cells[2].execution_count).toBe(null);
    expect(nb.cells[2].outputs).toEqual([]);
    await expectValidNotebook(join(out, "failing.ipynb"));
  });

  it("lepton run fails a cell that runs past --timeout, in a folder outside the repository, and leaves no kernel behind", async () => {
    const dir = join(work, "slow");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "slow.ipynb"), JSON.stringify({
      cells: [
        cell(`import * as lepton from "lepton";\nlepton.inKernel()`),
        cell(`console.log(process.pid);\nfor (;;) await new Promise((r) => setTimeout(r, 50));`),
      ],
      metadata: {}, nbformat: 4, nbformat_minor: 4,
    }));
    // The limit is per cell, and the first cell (importing lepton) must fit in it even on a loaded machine:
    // with 3 s it timed out there under CI load.
    const res = await lepton(["run", join(dir, "slow.ipynb"), "--timeout", "20"]);
    expect(res.status).toBe(1);
    expect(res.stderr).toContain("TimeoutError: the cell did not finish within 20000 ms");
    const nb = JSON.parse(readFileSync(join(dir, "slow.executed.ipynb"), "utf8"));
    expect(nb.nbformat_minor).toBe(5);
    expect(nb.cells.every((c: any) => /^[0-9a-f]{8}$/.test(c.id))).toBe(true);
    expect(visible(nb.cells[0].outputs)).toEqual([{ output_type: "execute_result", execution_count: 1, data: { "text/plain": "true" } }]);
    const pid = Number(text(nb.cells[1].outputs[0].text));
    expect(pid).toBeGreaterThan(0);
    expect(() => process.kill(pid, 0)).toThrow(); // the kernel process is gone
    await expectValidNotebook(join(dir, "slow.executed.ipynb"));
  });

  it("lepton run refuses bad arguments with a message", async () => {
    expect((await lepton(["run"])).stderr).toContain("no notebook given");
    const res = await lepton(["run", "x.ipynb", "-p", "no-equals"]);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain("write -p name=value");
  });

  it("lepton run runs several notebooks in order, each on its own kernel in its own folder, into one --out folder", async () => {
    const first = writeNotebook(join(work, "multi", "a", "first.ipynb"), [`(globalThis as any).marker = "a";\nprocess.cwd()`]);
    const second = writeNotebook(join(work, "multi", "b", "second.ipynb"), [`console.log(typeof (globalThis as any).marker);\nprocess.cwd()`]);
    const out = join(work, "multi-out");
    const res = await lepton(["run", first, second, "--out", out]);
    expect(res.status, res.stderr).toBe(0);
    const done = res.stderr.split("\n").filter((l) => l.includes(": ok in "));
    expect(done).toEqual([expect.stringContaining(`${first}: ok in`), expect.stringContaining(`${second}: ok in`)]);
    expect(readdirSync(out).sort()).toEqual(["first.ipynb", "second.ipynb"]);
    const a = JSON.parse(readFileSync(join(out, "first.ipynb"), "utf8"));
    const b = JSON.parse(readFileSync(join(out, "second.ipynb"), "utf8"));
    expect(visible(a.cells[0].outputs)).toEqual([{ output_type: "execute_result", execution_count: 1, data: { "text/plain": join(work, "multi", "a") } }]);
    // The second notebook's kernel is a new process: nothing of the first is left; its folder is its own.
    expect(visible(b.cells[0].outputs)).toEqual([
      { output_type: "stream", name: "stdout", text: "undefined\n" },
      { output_type: "execute_result", execution_count: 1, data: { "text/plain": join(work, "multi", "b") } },
    ]);
    await expectValidNotebook(join(out, "first.ipynb"));
    await expectValidNotebook(join(out, "second.ipynb"));
  });

  it("lepton run refuses, before running anything, notebooks that would be written to the same file", async () => {
    const one = writeNotebook(join(work, "same", "x", "report.ipynb"), [`require("fs").writeFileSync("ran", "x")`]);
    const two = writeNotebook(join(work, "same", "y", "report.ipynb"), [`require("fs").writeFileSync("ran", "y")`]);
    const out = join(work, "same-out");
    const res = await lepton(["run", one, two, "--out", out]);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain(`${one} and ${two} would both be written to ${join(out, "report.ipynb")}`);
    expect(res.stderr).toContain("rename one of them");
    expect(existsSync(out)).toBe(false);
    expect(existsSync(join(work, "same", "x", "ran"))).toBe(false);
    // The same notebook given twice is refused the same way.
    expect((await lepton(["run", one, one])).stderr).toContain("would both be written to");
    // Without --out each is written beside its input, so the same name in two folders is fine.
    const beside = await lepton(["run", one, two, "--quiet"]);
    expect(beside.status, beside.stderr).toBe(0);
    expect(existsSync(join(work, "same", "x", "report.executed.ipynb"))).toBe(true);
    expect(existsSync(join(work, "same", "y", "report.executed.ipynb"))).toBe(true);
  });

  it("Debian nbclient on the installed kernel gets the same outputs as lepton run", async (ctx) => {
    await needJupyter(ctx);
    const prefix = join(work, "nbclient-prefix");
    const env = jupyterEnv("nbclient", { JUPYTER_PATH: join(prefix, "share", "jupyter") });
    expect((await lepton(["kernel", "install", "--prefix", prefix], env)).status).toBe(0);
    const dir = join(work, "peer");
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(FIXTURES, "outputs.ipynb"), join(dir, "outputs.ipynb"));
    const nbc = await runCommand(PYTHON, ["-m", "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=120",
      "--output", "by-nbclient.ipynb", join(dir, "outputs.ipynb")], { env });
    expect(nbc.status, nbc.stderr).toBe(0);
    const ours = await lepton(["run", join(dir, "outputs.ipynb"), "--out", join(dir, "ours")], env);
    expect(ours.status, ours.stderr).toBe(0);
    const a = JSON.parse(readFileSync(join(dir, "by-nbclient.ipynb"), "utf8"));
    const b = JSON.parse(readFileSync(join(dir, "ours", "outputs.ipynb"), "utf8"));
    expect(b.cells.map((c: any) => c.id)).toEqual(a.cells.map((c: any) => c.id));
    const outputsOf = (nb: any) => nb.cells.filter((c: any) => c.cell_type === "code").map((c: any) => ({ count: c.execution_count, outputs: visible(c.outputs) }));
    expect(outputsOf(b)).toEqual(outputsOf(a));
    expect(outputsOf(a).flatMap((c: any) => c.outputs).length).toBeGreaterThanOrEqual(8);
    await expectValidNotebook(join(dir, "by-nbclient.ipynb"));
    await expectValidNotebook(join(dir, "ours", "outputs.ipynb"));
  });

  it("Jupyter's KernelManager interrupts the installed kernel (interrupt_mode from the spec); the kernel lives on", async (ctx) => {
    await needJupyter(ctx);
    const prefix = join(work, "interrupt-prefix");
    const env = jupyterEnv("interrupt", { JUPYTER_PATH: join(prefix, "share", "jupyter") });
    expect((await lepton(["kernel", "install", "--prefix", prefix], env)).status).toBe(0);
    const cwd = join(work, "interrupt-nb");
    mkdirSync(cwd, { recursive: true });
    const res = await runCommand(PYTHON, [join(FIXTURES, "interrupt_with_jupyter_client.py"), "lepton", cwd], { env, timeoutMs: 200_000 });
    expect(res.status, res.stderr).toBe(0);
    const result = JSON.parse(res.stdout.trim().split("\n")[0]);
    expect(result).toMatchObject({ mode: "signal", status: "error", ename: "InterruptedError", alive: true });
    expect(Number(result.steps)).toBeGreaterThan(0);
    expect(Number(result.steps)).toBeLessThan(100000);
  });
});
