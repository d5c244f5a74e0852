/**
 * A kernel you can trust with an afternoon's work (issue 11), against the real kernel over zeromq:
 * interrupts of synchronous code after an await and in a timer (signal and message), background errors
 * with the WebAssembly backend loaded, declarations that survive a later error, top-level for-await,
 * IPython's trailing `;`, clear_output, history, replayed requests, process.exit().
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, realpathSync, writeFileSync } from "fs";
import { spawn } from "child_process";
import { tmpdir } from "os";
import { join } from "path";
import { KernelClient, type Execution } from "../src/kernel/client";
import { ensureBuilt } from "./kernel_helpers";

const folder = realpathSync(mkdtempSync(join(tmpdir(), "lepton-trust-test-")));
let kernel: KernelClient;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const result = (exec: Execution) => (exec.outputs.find((o) => o.output_type === "execute_result") as any)?.data?.["text/plain"];
const errors = (exec: Execution) => exec.outputs.filter((o) => o.output_type === "error") as any[];

/**
 * Start `code`, interrupt it once it has been running for a while, return the execution. (Output the cell
 * prints before a synchronous loop only leaves the kernel when the loop ends, so the wait is a plain
 * delay; an interrupt that came earlier would stop the loop at its first iteration, and the tests check
 * that the loop ran.)
 */
async function interruptWhileRunning(code: string, mode: "signal" | "message"): Promise<Execution> {
  let started!: () => void;
  const inside = new Promise<void>((r) => (started = r));
  const exec = kernel.execute(code, {
    onMessage: (m) => {
      if (m.header.msg_type === "execute_input") started();
    },
  });
  await inside;
  await sleep(1500);
  await kernel.interrupt(mode);
  return exec;
}

beforeAll(async () => {
  ensureBuilt();
  kernel = await KernelClient.start({ cwd: folder });
  const ready = await kernel.execute(`import * as lepton from "lepton";\nimport * as tf from "@tensorflow/tfjs";\nconst info = await lepton.ready();\ninfo.name`);
  expect(ready.reply.content.status, JSON.stringify(ready.reply.content)).toBe("ok");
  // The WebAssembly backend (its emscripten glue) is what used to end the process on a stray rejection.
  expect(result(ready)).toBe("wasm");
});

afterAll(async () => {
  await kernel?.shutdown();
});

describe("interrupts reach synchronous code wherever it runs", () => {
  for (const mode of ["signal", "message"] as const) {
    it(`stops a for loop after an await (${mode}); the variables stay`, async () => {
      const exec = await interruptWhileRunning(
        `let s${mode} = 0;\nawait lepton.ready();\nconsole.log("started");\nfor (let i = 0; i < 1e13; i++) s${mode} += i;`,
        mode,
      );
      expect(exec.reply.content.status).toBe("error");
      expect(exec.reply.content.ename).toBe("InterruptedError");
      const after = await kernel.execute(`s${mode} > 0`);
      expect(result(after)).toBe("true");
    });

    it(`stops a loop inside a timer (${mode}); the cell ends and its variables stay`, async () => {
      const exec = await interruptWhileRunning(
        `let t${mode} = 0;\nawait new Promise<void>((resolve) => setTimeout(() => { console.log("started"); for (;;) t${mode}++; }, 10));`,
        mode,
      );
      expect(exec.reply.content.ename).toBe("InterruptedError");
      // The timer's InterruptedError is the cell's own outcome, not a second error output.
      expect(errors(exec)).toHaveLength(1);
      expect(result(await kernel.execute(`t${mode} > 0`))).toBe("true");
    });
  }

  it("stops a busy timer that runs after its cell ended (the kernel was stuck, now it answers)", async () => {
    const exec = await kernel.execute(`let bg = 0;\nsetTimeout(() => { console.log("started"); for (;;) bg++; }, 50);\n"scheduled"`);
    expect(result(exec)).toBe("scheduled");
    await sleep(500); // the loop now holds the kernel's thread
    await kernel.interrupt("message");
    const next = await kernel.execute(`bg > 0`);
    expect(result(next)).toBe("true");
  });

  it("a loop in a function defined in one cell and called from a later one stops too", async () => {
    await kernel.execute(`function spin(): number { let n = 0; while (true) { n++; if (n < 0) return n; } }`);
    const exec = await interruptWhileRunning(`await null;\nconsole.log("started");\nspin();`, "signal");
    expect(exec.reply.content.ename).toBe("InterruptedError");
    expect(result(await kernel.execute(`1 + 1`))).toBe("2");
  });
});

describe("interrupts after a second look", () => {
  it("a cell's own SIGINT listeners (added, then removed) do not turn the next interrupt into the kernel's end", async () => {
    const setup = await kernel.execute(`const onInt = () => {};\nprocess.on("SIGINT", onInt);\nprocess.removeListener("SIGINT", onInt);\n"ok"`);
    expect(setup.reply.content.status).toBe("ok");
    const exec = await interruptWhileRunning(`let afterListeners = 0;\nawait null;\nfor (;;) afterListeners++;`, "signal");
    expect(exec.reply.content.ename).toBe("InterruptedError");
    expect(result(await kernel.execute(`afterListeners > 0`))).toBe("true");
  });

  it("a signal during a cell's synchronous start runs its finally blocks", async () => {
    const exec = await interruptWhileRunning(`let cleaned = false;\ntry { for (;;) {} } finally { cleaned = true; }`, "signal");
    expect(exec.reply.content.ename).toBe("InterruptedError");
    expect(result(await kernel.execute(`cleaned`))).toBe("true");
  });

  it("a catch inside the cell's loop does not swallow the interrupt", async () => {
    const exec = await interruptWhileRunning(
      `let rounds = 0;\nawait null;\nfor (let f = 0; f < 1e9; f++) { try { for (let i = 0; i < 1e12; i++) rounds++; } catch (e) { /* logged and ignored */ } }`,
      "message",
    );
    expect(exec.reply.content.ename).toBe("InterruptedError");
    expect(result(await kernel.execute(`1`))).toBe("1");
  });

  it("a listener that rethrows uncaught exceptions (as emscripten's glue does) cannot end the kernel", async () => {
    const exec = await kernel.execute(`process.on("uncaughtException", (e) => { throw e; });\nsetTimeout(() => { throw new Error("rethrown by a listener"); }, 0);\nawait new Promise((r) => setTimeout(r, 200));\n"still here"`);
    expect(errors(exec).map((e) => e.evalue)).toContain("rethrown by a listener");
    expect(result(await kernel.execute(`"alive"`))).toBe("alive");
  });
});

describe("nothing a cell does in the background ends the kernel", () => {
  it("an unawaited rejection and an uncaught timer exception are shown as errors; the kernel keeps its variables", async () => {
    await kernel.execute(`const keep = { weights: [1, 2, 3] };`);
    const messages: any[] = [];
    const exec = await kernel.execute(
      `Promise.reject(new Error("nobody awaited me"));\nsetTimeout(() => { throw new RangeError("thrown in a timer"); }, 0);\nawait new Promise((r) => setTimeout(r, 200));\n"done"`,
      { onMessage: (m) => messages.push(m) },
    );
    expect(exec.reply.content.status).toBe("ok");
    const shown = errors(exec).map((e) => `${e.ename}: ${e.evalue}`);
    expect(shown).toContain("Error: nobody awaited me");
    expect(shown).toContain("RangeError: thrown in a timer");
    expect(errors(exec).every((e) => e.traceback.join("\n").includes("keeps running"))).toBe(true);
    expect(result(exec)).toBe("done");
    const next = await kernel.execute(`keep.weights.length`);
    expect(result(next)).toBe("3");
  });
});

describe("cells as in IPython", () => {
  it("declarations that ran before an error keep their values; the ones after it do not appear", async () => {
    await kernel.execute(`let untouched = "from before";`);
    const failed = await kernel.execute(
      `const model = { layers: 2 };\nlet count = 7;\nfunction helper() { return count * 2; }\nclass Box { v = 1; }\nthrow new Error("the line that fails");\nconst never = 1;\nlet untouched = "overwritten";`,
    );
    expect(failed.reply.content.ename).toBe("Error");
    const next = await kernel.execute(`[model.layers, count, helper(), new Box().v, untouched]`);
    expect(next.reply.content.status, JSON.stringify(next.reply.content)).toBe("ok");
    expect(result(next)).toBe("[ 2, 7, 14, 1, 'from before' ]");
    const never = await kernel.execute(`never`);
    expect(never.reply.content.ename).toBe("TypeScriptError");
    expect(never.reply.content.evalue).toMatch(/Cannot find name 'never'|only refers to a type/);
  });

  it("a write from an earlier cell's function is not taken for a declaration that ran", async () => {
    await kernel.execute(`let shared = 0;\nfunction bump() { shared = 10; }`);
    const failed = await kernel.execute(`bump();\nthrow new Error("before the declaration");\nlet shared = "text";`);
    expect(failed.reply.content.ename).toBe("Error");
    // shared is still the number of the first cell (10 after bump()), typed as a number.
    const next = await kernel.execute(`shared.toFixed(1)`);
    expect(next.reply.content.status, JSON.stringify(next.reply.content)).toBe("ok");
    expect(result(next)).toBe("10.0");
  });

  it("keeps a user's own 'x = void 0' line, and cells that declare more than 50 names", async () => {
    await kernel.execute(`let maybe: number | undefined = 5;`);
    await kernel.execute(`maybe = void 0;`);
    expect(result(await kernel.execute(`String(maybe)`))).toBe("undefined");
    await kernel.execute(`const keepMe = "old";`);
    const many = Array.from({ length: 60 }, (_, i) => `const v${i} = ${i};`).join("\n");
    const failed = await kernel.execute(`${many}\nthrow new Error("after 60 declarations");\nlet keepMe = 123;`);
    expect(failed.reply.content.ename).toBe("Error");
    expect(result(await kernel.execute(`[keepMe, v59]`))).toBe("[ 'old', 59 ]");
  });

  it("an error after an await keeps what ran before it too", async () => {
    const failed = await kernel.execute(`const early = 41;\nawait null;\nconst late = early + 1;\nJSON.parse("{oops");`);
    expect(failed.reply.content.ename).toBe("SyntaxError");
    expect(result(await kernel.execute(`late`))).toBe("42");
  });

  it("runs a top-level for await", async () => {
    const exec = await kernel.execute(`async function* counts() { yield 1; yield 2; yield 3; }\nlet total = 0;\nfor await (const c of counts()) total += c;\ntotal`);
    expect(exec.reply.content.status, JSON.stringify(exec.reply.content)).toBe("ok");
    expect(result(exec)).toBe("6");
  });

  it("a trailing ; silences the last value; without it the value shows", async () => {
    const silenced = await kernel.execute(`6 * 7;`);
    expect(silenced.reply.content.status).toBe("ok");
    expect(silenced.outputs).toEqual([]);
    expect(result(await kernel.execute(`6 * 7`))).toBe("42");
    // A ; inside the line, or in a comment after the value, is not a trailing one.
    expect(result(await kernel.execute(`const z = 1; z // a comment;`))).toBe("1");
  });

  it("lepton.clearOutput sends clear_output, with wait", async () => {
    const exec = await kernel.execute(`console.log("first");\nlepton.clearOutput({ wait: true });\nconsole.log("second");\nlepton.clearOutput();`);
    const cleared = exec.messages.filter((m) => m.header.msg_type === "clear_output").map((m) => m.content);
    expect(cleared).toEqual([{ wait: true }, { wait: false }]);
  });

  it("history_request answers tail, range and search over this session's cells", async () => {
    await kernel.execute(`const historyMarker = "hm";`);
    const tail = await kernel.request("history_request", { hist_access_type: "tail", n: 2, output: false, raw: true });
    const rows = tail.content.history as [number, number, string][];
    expect(rows).toHaveLength(2);
    expect(rows[1][2]).toBe(`const historyMarker = "hm";`);
    const search = await kernel.request("history_request", { hist_access_type: "search", pattern: "*historyMarker*", output: false, raw: true });
    expect(search.content.history.map((r: any[]) => r[2])).toEqual([`const historyMarker = "hm";`]);
    const line = rows[1][1];
    const range = await kernel.request("history_request", { hist_access_type: "range", session: 0, start: line, stop: line + 1, output: false, raw: true });
    expect(range.content.history.map((r: any[]) => r[2])).toEqual([`const historyMarker = "hm";`]);
  });

  it("is_complete says invalid for a syntax error more lines cannot fix, incomplete for an open template", async () => {
    const ask = async (code: string) => (await kernel.request("is_complete_request", { code })).content.status;
    expect(await ask("1 +* 2")).toBe("invalid");
    expect(await ask("`abc")).toBe("incomplete");
    expect(await ask("for (let i = 0; i < 3; i++) {")).toBe("incomplete");
    expect(await ask("const x = 1")).toBe("complete");
  });
});

describe("process.exit() in a cell", () => {
  it("replies to the cell (ask_exit, as IPython's exit()), flushes its output, then the kernel exits with the code", async () => {
    const own = await KernelClient.start({ cwd: folder });
    const exited = new Promise<number | null>((resolve) => own.process!.once("exit", (code) => resolve(code)));
    const exec = await own.execute(`console.log("saved");\nprocess.exit(3);\nconsole.log("not reached");`);
    expect(exec.reply.content.status).toBe("ok");
    expect(exec.reply.content.payload).toEqual([{ source: "ask_exit", keepkernel: false }]);
    expect(exec.outputs).toEqual([{ output_type: "stream", name: "stdout", text: "saved\n" }]);
    expect(await exited).toBe(3);
    await own.shutdown().catch(() => {});
  });
});

describe("orphans", () => {
  it("a kernel busy in a synchronous loop exits on its own when the process that started it is killed", async () => {
    const script = join(folder, "starter.js");
    writeFileSync(script, [
      `const { KernelClient } = require(${JSON.stringify(join(__dirname, "..", "dist", "src", "kernel", "client.js"))});`,
      `(async () => {`,
      `  const k = await KernelClient.start({ cwd: ${JSON.stringify(folder)} });`,
      `  await k.execute("1");`,
      `  k.execute("let n = 0; await null; for (;;) n++;").catch(() => {});`,
      `  setTimeout(() => console.log("PID " + k.process.pid), 500);`,
      `})();`,
    ].join("\n"));
    const starter = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
    const kernelPid = await new Promise<number>((resolve) => {
      let out = "";
      starter.stdout.on("data", (d) => {
        out += d;
        const m = /PID (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
    });
    const alive = () => {
      try {
        process.kill(kernelPid, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(alive()).toBe(true);
    starter.kill("SIGKILL");
    // Generous bound (the poll is every second): the kernel must not keep running for minutes.
    for (let i = 0; i < 300 && alive(); i++) await sleep(100);
    const stillAlive = alive();
    if (stillAlive) process.kill(kernelPid, "SIGKILL");
    expect(stillAlive).toBe(false);
  });
});
