/**
 * The Lepton kernel over real zeromq sockets, driven by lepton's own client (src/kernel/client.ts):
 * results, rich displays, errors, interrupts, completion/inspection and message signing. The kernel runs
 * in a temporary folder outside the repository, so `import ... from "lepton"` there proves that lepton
 * resolves from any folder (at run time and for the type checker).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, realpathSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { KernelClient, type Execution } from "../src/kernel/client";
import type { Message } from "../src/kernel/wire";
import { ensureBuilt } from "./kernel_helpers";

const folder = realpathSync(mkdtempSync(join(tmpdir(), "lepton-kernel-test-")));
let kernel: KernelClient;

function only(exec: Execution, type: string) {
  return exec.messages.filter((m) => m.header.msg_type === type);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  ensureBuilt();
  kernel = await KernelClient.start({ cwd: folder });
});

afterAll(async () => {
  await kernel?.shutdown();
});

describe("Lepton kernel protocol", () => {
  it("kernel_info names TypeScript (tslab's compiler version) and protocol 5.3", async () => {
    const reply = await kernel.request("kernel_info_request", {});
    expect(reply.header.msg_type).toBe("kernel_info_reply");
    expect(reply.content.protocol_version).toBe("5.3");
    expect(reply.content.language_info.name).toBe("typescript");
    expect(reply.content.language_info.file_extension).toBe(".ts");
    expect(reply.content.language_info.version).toBe(require("@tslab/typescript-for-tslab").version);
  });

  it("sends a cell's last value as execute_result with its execution count, after execute_input", async () => {
    const exec = await kernel.execute("const answer = 6 * 7;\nanswer");
    const count = exec.reply.content.execution_count;
    expect(exec.reply.content.status).toBe("ok");
    expect(count).toBeGreaterThan(0);
    const types = exec.messages.map((m) => m.header.msg_type);
    expect(types).toEqual(["execute_input", "execute_result"]);
    expect(exec.messages[0].content).toEqual({ code: "const answer = 6 * 7;\nanswer", execution_count: count });
    expect(exec.messages[1].content.execution_count).toBe(count);
    expect(exec.messages[1].content.data["text/plain"]).toBe("42");
    const next = await kernel.execute("answer + 1");
    expect(next.reply.content.execution_count).toBe(count + 1);
    expect(next.outputs).toEqual([{ output_type: "execute_result", execution_count: count + 1, data: { "text/plain": "43" }, metadata: {} }]);
  });

  it("console.log goes out as a stdout stream, not as a result", async () => {
    const exec = await kernel.execute(`console.log("hello", 1 + 2)`);
    expect(exec.outputs).toEqual([{ output_type: "stream", name: "stdout", text: "hello 3\n" }]);
  });

  it("imports lepton and tfjs in a folder outside the repository, type-checked against lepton's types", async () => {
    expect(existsSync(join(folder, "node_modules"))).toBe(false);
    const ok = await kernel.execute(`import * as lepton from "lepton";\nimport * as tf from "@tensorflow/tfjs";\nconst inside: boolean = lepton.inKernel();\n[inside, tf.tensor1d([1, 2, 3]).shape]`);
    expect(ok.reply.content.status, JSON.stringify(ok.reply.content)).toBe("ok");
    expect(ok.outputs.find((o) => o.output_type === "execute_result")).toMatchObject({ data: { "text/plain": "[ true, [ 3 ] ]" } });
    // The checker knows lepton's real types: a boolean is not a string.
    const bad = await kernel.execute(`const s: string = lepton.inKernel();`);
    expect(bad.reply.content.ename).toBe("TypeScriptError");
    expect(bad.reply.content.evalue).toMatch(/'boolean' is not assignable to type 'string'/);
  });

  it("shows a Jupyter.display bundle with several mime types; JSON parts arrive as objects", async () => {
    const exec = await kernel.execute([
      `lepton.display(lepton.mime({ "application/vnd.plotly.v1+json": { data: [{ y: [3, 1, 2] }], layout: {} }, "text/plain": "a chart" }));`,
      `({ [Symbol.for("Jupyter.display")]: () => ({ "text/html": "<i>x</i>", "application/json": '{"k": [1, 2]}', "text/plain": "x" }) })`,
    ].join("\n"));
    expect(exec.reply.content.status).toBe("ok");
    const display = only(exec, "display_data")[0].content;
    expect(display.data["application/vnd.plotly.v1+json"]).toEqual({ data: [{ y: [3, 1, 2] }], layout: {} });
    expect(display.data["text/plain"]).toBe("a chart");
    expect(typeof display.transient.display_id).toBe("string");
    const result = only(exec, "execute_result")[0].content;
    expect(result.data).toEqual({ "text/html": "<i>x</i>", "application/json": { k: [1, 2] }, "text/plain": "x" });
  });

  it("display handles send update_display_data for the same display id", async () => {
    const exec = await kernel.execute(`const h = lepton.display("first");\nh.update(lepton.html("<b>second</b>"));\nh.displayId`);
    const [shown] = only(exec, "display_data");
    const [updated] = only(exec, "update_display_data");
    const id = shown.content.transient.display_id;
    expect(updated.content.transient.display_id).toBe(id);
    expect(shown.content.data).toEqual({ "text/plain": "first" });
    expect(updated.content.data).toEqual({ "text/html": "<b>second</b>", "text/plain": "second" });
    expect(only(exec, "execute_result")[0].content.data["text/plain"]).toBe(id);
    // The client applies the update to the stored output, as a notebook does.
    expect(exec.outputs[0]).toMatchObject({ output_type: "display_data", data: { "text/html": "<b>second</b>" } });
  });

  it("reports a type error as an error message and reply (ename, evalue, traceback); the kernel goes on", async () => {
    const exec = await kernel.execute(`const n: number = "not a number";`);
    const [error] = only(exec, "error");
    expect(exec.reply.content.status).toBe("error");
    for (const c of [error.content, exec.reply.content]) {
      expect(c.ename).toBe("TypeScriptError");
      expect(c.evalue).toContain("Type 'string' is not assignable to type 'number'");
      expect(c.traceback.join("\n")).toContain("1:7");
    }
    expect((await kernel.execute("answer")).outputs[0]).toMatchObject({ data: { "text/plain": "42" } });
  });

  it("reports a runtime error with the thrown error's name, message and stack; variables survive", async () => {
    const exec = await kernel.execute(`function fail(): number { throw new RangeError("too far: " + answer); }\nfail();`);
    const [error] = only(exec, "error");
    expect(exec.reply.content).toMatchObject({ status: "error", ename: "RangeError", evalue: "too far: 42" });
    expect(error.content).toMatchObject({ ename: "RangeError", evalue: "too far: 42" });
    for (const c of [error.content, exec.reply.content]) {
      expect(c.traceback.join("\n")).toContain("RangeError: too far: 42");
      expect(c.traceback.join("\n")).toMatch(/at fail\b/);
    }
    expect(exec.outputs.filter((o) => o.output_type === "error")).toHaveLength(1);
    const after = await kernel.execute(`answer * 2`);
    expect(after.outputs[0]).toMatchObject({ data: { "text/plain": "84" } });
  });

  for (const mode of ["signal", "message"] as const) {
    it(`interrupt (${mode}) stops a loop that awaits between steps; the kernel keeps its variables`, async () => {
      await kernel.execute(`let steps_${mode} = 0;`);
      const running = kernel.execute(`for (let i = 0; i < 100000; i++) {\n  steps_${mode}++;\n  if (i === 5) console.log("running");\n  await new Promise((r) => setTimeout(r, 10));\n}`, {
        onMessage: (m) => {
          if (m.header.msg_type === "stream" && m.content.text.includes("running")) void kernel.interrupt(mode);
        },
      });
      const exec = await running;
      expect(exec.reply.content.status).toBe("error");
      expect(exec.reply.content.ename).toBe("InterruptedError");
      expect(only(exec, "error")[0].content.ename).toBe("InterruptedError");
      const first = (await kernel.execute(`steps_${mode}`)).outputs[0] as any;
      const steps = Number(first.data["text/plain"]);
      expect(steps).toBeGreaterThanOrEqual(6);
      expect(steps).toBeLessThan(100000);
      await sleep(300);
      // The loop really stopped: the counter does not move any more.
      const later = (await kernel.execute(`steps_${mode}`)).outputs[0] as any;
      expect(Number(later.data["text/plain"])).toBe(steps);
      expect((await kernel.execute("answer")).outputs[0]).toMatchObject({ data: { "text/plain": "42" } });
    });
  }

  it("SIGINT stops a synchronous busy loop", async () => {
    // The loop blocks the kernel's event loop (its output cannot even be sent), so signal until it stops.
    const running = kernel.execute(`const t0 = Date.now();\nwhile (Date.now() - t0 < 60000) {}`);
    const signals = setInterval(() => void kernel.interrupt("signal"), 500);
    const exec = await running.finally(() => clearInterval(signals));
    expect(exec.reply.content.ename).toBe("InterruptedError");
    expect((await kernel.execute("answer")).outputs[0]).toMatchObject({ data: { "text/plain": "42" } });
  });

  it("answers complete, inspect and is_complete requests", async () => {
    await kernel.execute(`const alphabetSoup = 1;`);
    const complete = await kernel.request("complete_request", { code: "alphabetS", cursor_pos: 9 });
    expect(complete.header.msg_type).toBe("complete_reply");
    expect(complete.content).toMatchObject({ status: "ok", cursor_start: 0, cursor_end: 9 });
    expect(complete.content.matches).toContain("alphabetSoup");
    const members = await kernel.request("complete_request", { code: "lepton.disp", cursor_pos: 11 });
    expect(members.content.matches).toContain("display");

    const inspect = await kernel.request("inspect_request", { code: "lepton.display", cursor_pos: 10, detail_level: 0 });
    expect(inspect.header.msg_type).toBe("inspect_reply");
    expect(inspect.content.found).toBe(true);
    expect(inspect.content.data["text/plain"]).toMatch(/display\(value: unknown/);

    const open = await kernel.request("is_complete_request", { code: "for (let i = 0; i < 3; i++) {" });
    expect(open.content.status).toBe("incomplete");
    const done = await kernel.request("is_complete_request", { code: "1 + 1" });
    expect(done.content.status).toBe("complete");
  });

  it("replies to comm_info_request with a comm_info_reply", async () => {
    const reply = await kernel.request("comm_info_request", { target_name: "jupyter.widget" });
    expect(reply.header.msg_type).toBe("comm_info_reply");
    expect(reply.content).toEqual({ status: "ok", comms: {} });
  });

  it("runs no code from a request signed with the wrong key, and sends nothing for it", async () => {
    const marker = join(folder, "forged-ran");
    const unclaimed: Message[] = [];
    kernel.onUnclaimedMessage = (m) => unclaimed.push(m);
    const forgedId = kernel.sendForged("execute_request", { code: `require("fs").writeFileSync(${JSON.stringify(marker)}, "x"); (globalThis as any).forged = 1;`, silent: false }, "not-the-key");
    // A correctly signed request sent after it is answered; the forged one never is.
    const check = await kernel.execute(`typeof (globalThis as any).forged`);
    expect(check.outputs[0]).toMatchObject({ data: { "text/plain": "undefined" } });
    await sleep(500);
    kernel.onUnclaimedMessage = undefined;
    expect(existsSync(marker)).toBe(false);
    // Shell requests are handled in order and each channel delivers in order, so a reply (or a busy
    // status) for the forged request would have arrived before the check's reply.
    expect(unclaimed.filter((m) => m.parent_header.msg_id === forgedId)).toEqual([]);
  });

  it("a Jupyter.display value without text/plain gets a readable text part naming its mime types", async () => {
    const exec = await kernel.execute(`lepton.mime({ "text/html": "<i>no text</i>", "application/json": { a: 1 } })`);
    expect(only(exec, "execute_result")[0].content.data).toEqual({
      "text/html": "<i>no text</i>", "application/json": { a: 1 }, "text/plain": "<display: text/html, application/json>",
    });
  });

  it("tslab's own display API reaches the notebook as display_data", async () => {
    const exec = await kernel.execute(`import * as tslab from "tslab";\ntslab.display.html("<b>from tslab</b>");`);
    expect(exec.reply.content.status, JSON.stringify(exec.reply.content)).toBe("ok");
    expect(exec.outputs).toEqual([{ output_type: "display_data", data: { "text/html": "<b>from tslab</b>" }, metadata: {} }]);
  });

  it("after an error, cells already queued behind it come back aborted; the next cell runs", async () => {
    const gate = join(folder, "gate-open");
    const failing = kernel.execute(`import * as fs from "fs";\nwhile (!fs.existsSync(${JSON.stringify(gate)})) await new Promise((r) => setTimeout(r, 20));\nthrow new Error("the first cell fails");`);
    const queued = kernel.execute(`(globalThis as any).queuedRan = true;`);
    // The kernel reads shell requests in order: once this is answered it holds the queued cell.
    await kernel.request("kernel_info_request", {});
    writeFileSync(gate, "");
    const [a, b] = await Promise.all([failing, queued]);
    expect(a.reply.content).toMatchObject({ status: "error", ename: "Error", evalue: "the first cell fails" });
    expect(b.reply.content.status).toBe("aborted");
    expect(b.messages).toEqual([]);
    const after = await kernel.execute(`typeof (globalThis as any).queuedRan`);
    expect(after.reply.content.status).toBe("ok");
    expect(after.outputs[0]).toMatchObject({ data: { "text/plain": "undefined" } });
  });

  it("an interrupt stops lepton.train at a batch boundary: the cell says so, the history says so, variables stay", async () => {
    const setup = await kernel.execute([
      `import * as lepton from "lepton";`,
      `const xs = new Float32Array(512).map((_, i) => Math.sin(i * 1.7));`,
      `const ys = new Int32Array(256).map((_, i) => (xs[2 * i] + xs[2 * i + 1] > 0 ? 1 : 0));`,
      `const twoBlobs = lepton.data.fromTensors(xs, ys, { inputShape: [2], classes: ["neg", "pos"] });`,
      `const net = lepton.models.mlp([2, 8, 2]);`,
      `let batchesSeen = 0;`,
    ].join("\n"));
    expect(setup.reply.content.status, JSON.stringify(setup.reply.content)).toBe("ok");
    let interrupted = false;
    const exec = await kernel.execute([
      `const history = await lepton.train(net, twoBlobs, { epochs: 100000, batchSize: 16, verbose: 0,`,
      `  callbacks: [{ onBatchEnd: () => { if (++batchesSeen === 20) console.log("training is running"); } }] });`,
      `history.interrupted`,
    ].join("\n"), {
      onMessage: (m) => {
        if (!interrupted && m.header.msg_type === "stream" && m.content.text.includes("training is running")) {
          interrupted = true;
          void kernel.interrupt();
        }
      },
    });
    expect(interrupted).toBe(true);
    // lepton.train ends cleanly: the cell succeeds, returns the history and prints why it stopped.
    expect(exec.reply.content.status, JSON.stringify(exec.reply.content)).toBe("ok");
    const stdout = exec.outputs.filter((o) => o.output_type === "stream").map((o: any) => o.text).join("");
    expect(stdout).toMatch(/Training interrupted \(interrupted (at epoch \d+, batch \d+ of 16|after epoch \d+)\)/);
    expect(exec.outputs.find((o) => o.output_type === "execute_result")).toMatchObject({ data: { "text/plain": "true" } });
    const next = await kernel.execute(`[history.interrupted, history.stopReason, batchesSeen >= 20, history.epochs.length < 100000, answer]`);
    expect(next.reply.content.status).toBe("ok");
    expect(next.outputs[0]).toMatchObject({ data: { "text/plain": expect.stringMatching(/^\[\s*true,\s*'interrupted .*',\s*true,\s*true,\s*42\s*\]$/s) } });
    // The interrupt was for that cell only: the next training run is not stopped by it.
    const again = await kernel.execute(`const more = await lepton.train(net, twoBlobs, { epochs: 1, batchSize: 64, verbose: 0 });\n[more.interrupted, more.epochs.length]`);
    expect(again.outputs.find((o) => o.output_type === "execute_result")).toMatchObject({ data: { "text/plain": "[ false, 1 ]" } });
  });
});

describe("plotly.js in the saved notebook", () => {
  const libraryOutputs = (exec: Execution) =>
    exec.outputs.filter((o: any) => String(o.data?.["text/html"] ?? "").includes("lepton-plotly-library")).length;

  it("re-sends plotly.js when the cell that carried it runs again (Run All without a restart)", async () => {
    const chartA = `import * as lepton from "lepton";\nlepton.plot.line({ y: [1, 2, 3] })`;
    const chartB = `lepton.plot.bar({ x: ["a", "b"], y: [1, 2] })`;
    const first = [await kernel.execute(chartA), await kernel.execute(chartB)];
    expect(first.map(libraryOutputs)).toEqual([1, 0]);
    // Running B again leaves A (and the library) in place.
    expect(libraryOutputs(await kernel.execute(chartB))).toBe(0);
    // Run All: A's outputs were cleared by the frontend; its new run carries the library again.
    const again = [await kernel.execute(chartA), await kernel.execute(chartB)];
    expect(again.map(libraryOutputs)).toEqual([1, 0]);
  });

  it("knows a cell by the cellId in the request's metadata when the frontend sends one", async () => {
    const chart = `lepton.plot.scatter({ x: [1, 2], y: [2, 1] })`;
    // The cell "carrier" holds this session's copy of the library.
    expect(libraryOutputs(await kernel.execute(`lepton.plot.includeLibrary()`, { cellId: "carrier" }))).toBe(1);
    const runs = [
      await kernel.execute(chart, { cellId: "carrier" }),
      await kernel.execute(chart, { cellId: "cell-two" }),
      await kernel.execute(chart, { cellId: "cell-two" }),
      // (edited with a comment: a trailing ";" would silence the chart, as in IPython)
      await kernel.execute(chart + " // edited", { cellId: "carrier" }),
    ];
    // Re-running "carrier" (even edited) clears its copy, so its chart brings one; "cell-two" has the same
    // code but is another cell, so it brings none.
    expect(runs.map(libraryOutputs)).toEqual([1, 0, 0, 1]);
  });
});
