/**
 * `lepton run` keeps what ran when the kernel process dies: the pending execute ends promptly with a
 * KernelDiedError (outputs so far, exit code or signal, the kernel's last output), and runNotebook
 * still writes the executed notebook up to and including the cell that was running, with the death as
 * that cell's `error` output (validated by Debian's nbformat). Also: what the client says when the
 * kernel exits during start-up (a port already in use).
 */
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "fs";
import net from "net";
import { tmpdir } from "os";
import { join } from "path";
import { KernelClient, KernelDiedError } from "../src/kernel/client";
import { kernelDiedOutput, runNotebook, type Notebook } from "../src/kernel/runner";
import { CLI, PYTHON, ROOT, ensureBuilt, needJupyter, runCommand } from "./kernel_helpers";

const folder = realpathSync(mkdtempSync(join(tmpdir(), "lepton-run-death-")));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

function writeNotebook(name: string, sources: string[]): string {
  const nb: Notebook = {
    cells: sources.map((source, i) => ({ cell_type: "code", id: `cell-${i + 1}`, metadata: {}, source, outputs: [], execution_count: null })),
    metadata: {},
    nbformat: 4,
    nbformat_minor: 5,
  };
  const file = join(folder, name);
  writeFileSync(file, JSON.stringify(nb));
  return file;
}

/** Debian's nbformat validates the file (left out, with a warning, without Jupyter). */
async function expectValidNotebook(file: string): Promise<void> {
  if (!(await needJupyter())) return;
  const res = await runCommand(PYTHON, ["-c", "import nbformat,sys; nbformat.validate(nbformat.read(sys.argv[1], 4))", file], { timeoutMs: 60_000 });
  expect(res.status, res.stderr).toBe(0);
}

const text = (v: unknown) => (Array.isArray(v) ? v.join("") : String(v));

// Output from the cell, then a pause so that it reaches the client before the kernel dies.
const KILL_CELL = `console.log("before the kill");\nawait new Promise((r) => setTimeout(r, 300));\nprocess.kill(process.pid, "SIGKILL");`;

describe("the kernel dies during a cell", () => {
  it("runNotebook writes the notebook up to the dying cell, with a KernelDied error naming SIGKILL, and ok: false", async () => {
    ensureBuilt();
    const input = writeNotebook("killed.ipynb", ["let x = 41;\nconsole.log('first cell')", KILL_CELL, "x + 1"]);
    const started = Date.now();
    const result = await runNotebook(input);
    const seconds = (Date.now() - started) / 1000;
    expect(result.ok).toBe(false);
    expect(result.output).toBe(join(folder, "killed.executed.ipynb"));
    expect(result.failure).toMatchObject({ index: 1, ename: "KernelDied" });
    expect(result.failure!.evalue).toMatch(/^The kernel was killed by SIGKILL while this cell was running: its variables are lost and the cells after this one were not run\. SIGKILL usually means the machine ran out of memory/);
    expect(result.failure!.evalue).toMatch(/run the notebook again\.$/);
    expect(seconds).toBeLessThan(60); // a kernel start (several seconds on a busy machine) plus the cells, not a timeout

    const written = JSON.parse(readFileSync(result.output, "utf8"));
    const [first, dying, after] = written.cells;
    expect(first.outputs).toEqual([{ output_type: "stream", name: "stdout", text: ["first cell\n"] }]);
    expect(first.execution_count).toBe(1);
    expect(dying.execution_count).toBeNull(); // no reply ever came
    expect(dying.outputs[0]).toEqual({ output_type: "stream", name: "stdout", text: ["before the kill\n"] });
    expect(dying.outputs[1]).toMatchObject({ output_type: "error", ename: "KernelDied" });
    expect(dying.outputs[1].evalue).toBe(result.failure!.evalue);
    expect(dying.outputs).toHaveLength(2);
    expect(after.outputs).toEqual([]);
    expect(after.execution_count).toBeNull();
    await expectValidNotebook(result.output);
  });

  it("the pending execute rejects promptly with KernelDiedError: the signal, outputs so far, the kernel's last stderr lines", async () => {
    ensureBuilt();
    const kernel = await KernelClient.start({ cwd: folder });
    try {
      await kernel.execute("const fs = require('fs');");
      let err: unknown;
      const t0 = Date.now();
      try {
        // Straight to the process's own stderr (fd 2), not through the cell's captured console.
        await kernel.execute(`console.log("partial");\nawait new Promise((r) => setTimeout(r, 300));\nfs.writeSync(2, "fatal: something native went wrong\\n");\nprocess.kill(process.pid, "SIGKILL");`, { timeoutMs: 60_000 });
      } catch (e) {
        err = e;
      }
      const waited = Date.now() - t0;
      expect(err).toBeInstanceOf(KernelDiedError);
      const died = err as KernelDiedError;
      expect(died.exitCode).toBeNull();
      expect(died.signal).toBe("SIGKILL");
      expect(died.stage).toBe("during");
      expect(died.outputs).toEqual([{ output_type: "stream", name: "stdout", text: "partial\n" }]);
      expect(died.output).toContain("fatal: something native went wrong");
      expect(died.message).toMatch(/^the kernel was killed by SIGKILL while the cell was running: SIGKILL usually means the machine ran out of memory/);
      expect(died.message).toMatch(/the last lines of its output:\n(.*\n)*  fatal: something native went wrong/);
      expect(waited).toBeLessThan(10_000);
      // Later requests fail at once, saying the same.
      await expect(kernel.execute("1")).rejects.toThrow(/^the kernel was killed by SIGKILL before the cell was sent/);
      const again = await kernel.execute("1").then(() => undefined, (e) => e as KernelDiedError);
      expect(again?.stage).toBe("before");
      expect(kernelDiedOutput(again!).evalue).toMatch(/^The kernel was killed by SIGKILL before this cell could run: /);
    } finally {
      await kernel.shutdown();
    }
  });

  it("an exit code is named with its likely cause; no output, no pointer to it", () => {
    const died = new KernelDiedError({ code: 7, signal: null, output: [], stage: "during" }, [{ output_type: "stream", name: "stdout", text: "x" }]);
    expect(died.message).toBe("the kernel exited with code 7 while the cell was running: a cell may have called process.exit(7), or the kernel hit a fatal error\n(it printed nothing)");
    expect(died.outputs).toHaveLength(1);
    expect(kernelDiedOutput(died)).toEqual({
      ename: "KernelDied",
      evalue: "The kernel exited with code 7 while this cell was running: its variables are lost and the cells after this one were not run. " +
        "A cell may have called process.exit(7), or the kernel hit a fatal error. Fix the cause and run the notebook again.",
      traceback: ["(the kernel printed nothing)"],
    });
    const segv = new KernelDiedError({ code: null, signal: "SIGSEGV", output: ["Segmentation fault"], stage: "during" });
    expect(kernelDiedOutput(segv).evalue).toMatch(/SIGSEGV is a crash in native code .*Fix the cause \(see the kernel's last output\)/);
    expect(kernelDiedOutput(segv).traceback).toEqual(["The kernel's last output (stdout and stderr):", "  Segmentation fault"]);
  });

  it("a kernel that aborts (SIGABRT) is reported as a crash", async () => {
    ensureBuilt();
    const input = writeNotebook("aborted.ipynb", ["1 + 1", "process.abort()"]);
    const result = await runNotebook(input);
    expect(result.ok).toBe(false);
    expect(result.failure).toMatchObject({ index: 1, ename: "KernelDied" });
    expect(result.failure!.evalue).toMatch(/^The kernel was killed by SIGABRT while this cell was running: .* SIGABRT is a crash/);
    const written = JSON.parse(readFileSync(result.output, "utf8"));
    expect(written.cells[0].outputs[0].data["text/plain"]).toEqual(["2"]);
    expect(written.cells[1].outputs.at(-1)).toMatchObject({ output_type: "error", ename: "KernelDied" });
    await expectValidNotebook(result.output);
  });

  it("`lepton run` prints the death, the notebook it wrote, and exits 1", async () => {
    ensureBuilt();
    const input = writeNotebook("cli_killed.ipynb", ["console.log('ran')", KILL_CELL]);
    const out = join(folder, "out");
    const res = await runCommand(process.execPath, [CLI, "run", input, "--out", out], { cwd: ROOT, timeoutMs: 120_000 });
    expect(res.status, res.stderr).toBe(1);
    expect(res.stderr).toContain(`lepton run: ${input} failed in cell 2:`);
    expect(res.stderr).toMatch(/KernelDied: The kernel was killed by SIGKILL while this cell was running/);
    expect(res.stderr).toContain(`executed notebook (up to the error): ${join(out, "cli_killed.ipynb")}`);
    const written = JSON.parse(readFileSync(join(out, "cli_killed.ipynb"), "utf8"));
    expect(written.cells[0].outputs).toEqual([{ output_type: "stream", name: "stdout", text: ["ran\n"] }]);
    expect(written.cells[1].outputs.at(-1).ename).toBe("KernelDied");
    await expectValidNotebook(join(out, "cli_killed.ipynb"));
  });
});

describe("the kernel exits during start-up", () => {
  it("names the exit, the kernel's last output and the port that is taken", async () => {
    ensureBuilt();
    // Before the real launcher starts, another process takes the connection file's shell port.
    const launcher = join(ROOT, "dist", "kernel", "launcher.js");
    const pidFile = join(folder, "holder.pid");
    const holder = `require("net").createServer().listen(Number(process.argv[1]), process.argv[2], () => console.log("listening")); setTimeout(() => {}, 30000);`;
    const wrapper = `const fs = require("fs"), f = process.argv[1], c = JSON.parse(fs.readFileSync(f, "utf8"));
const h = require("child_process").spawn(process.execPath, ["-e", ${JSON.stringify(holder)}, String(c.shell_port), c.ip], { detached: true, stdio: ["ignore", "pipe", "inherit"] });
fs.writeFileSync(${JSON.stringify(pidFile)}, String(h.pid));
h.stdout.once("data", () => { h.stdout.destroy(); h.unref();
  require(${JSON.stringify(launcher)}).main(["-f", f]).catch((e) => { process.stderr.write("lepton kernel failed to start: " + (e && e.stack || e) + "\\n"); process.exit(1); }); });`;
    try {
      const err = await KernelClient.start({ argv: [process.execPath, "-e", wrapper, "{connection_file}"], cwd: folder, startTimeoutMs: 60_000 }).then(
        () => undefined,
        (e) => e as Error,
      );
      expect(err).toBeInstanceOf(KernelDiedError);
      const died = err as KernelDiedError;
      expect(died.stage).toBe("start-up");
      expect(died.exitCode).toBe(1);
      expect(died.message).toMatch(/^the kernel exited with code 1 during start-up, before it answered kernel_info: a port in its connection file \(127\.0\.0\.1:\d+ \(shell_port\)\) was already taken by another process/);
      expect(died.message).toMatch(/the last lines of its output:\n(.*\n)*.*lepton kernel failed to start: .*already in use/i);
    } finally {
      try {
        process.kill(Number(readFileSync(pidFile, "utf8")), "SIGKILL");
      } catch {
        /* gone */
      }
    }
  });

  it("a kernel command that cannot be started says so", async () => {
    const err = await KernelClient.start({ argv: [join(folder, "no-such-kernel"), "-f", "{connection_file}"], startTimeoutMs: 10_000 }).then(
      () => undefined,
      (e) => e as Error,
    );
    expect(err).toBeInstanceOf(KernelDiedError);
    expect(err!.message).toMatch(/^the kernel could not be started: spawn .*no-such-kernel ENOENT \(command: .*no-such-kernel -f .*connection\.json\) during start-up/);
  });
});
