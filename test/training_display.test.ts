/**
 * What a training shows (issue 12, item 5 "One training display per cell"): one figure per training
 * cell on a real kernel (the live chart; the History as that cell's value is text only, and a later
 * cell's `history` draws the chart), the same colour per series in every panel with each name once
 * in the legend, the batch line kept apart from the per-epoch series (no jump at epoch ends), one
 * panel per metric, info messages in the normal colour, the label smoothing note with its floor, and
 * Keras's history.history / params.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, realpathSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import * as tf from "@tensorflow/tfjs";
import { ready } from "../src/backend";
import { mlp } from "../src/models";
import { train, History } from "../src/training";
import { ProgressView } from "../src/training/progress";
import { labelSmoothingFloor } from "../src/training/history";
import { perSampleCrossEntropy } from "../src/training/losses";
import { fromTensors } from "../src/data";
import { DISPLAY_SYMBOL, resultBundle, setDisplaySink, toMimeBundle, type MimeBundle } from "../src/display/display";
import { KernelClient, type Execution } from "../src/kernel/client";
import { ensureBuilt } from "./kernel_helpers";

const PLOTLY = "application/vnd.plotly.v1+json";

type Trace = { name?: string; x?: unknown[]; y?: unknown[]; xaxis?: string; yaxis?: string; line?: { color?: string }; marker?: { color?: string }; legendgroup?: string; showlegend?: boolean };
type Fig = { data: Trace[]; layout: Record<string, any> };

beforeAll(async () => {
  await ready();
});
afterEach(() => setDisplaySink(undefined));

/** A sink standing in for the kernel: the latest bundle of each display id, in the order first shown. */
function fakeNotebook(cell = "exec-1") {
  const latest = new Map<string, MimeBundle>();
  const order: string[] = [];
  setDisplaySink({
    display: (b, _m, id) => void (order.push(String(id)), latest.set(String(id), b)),
    update: (b, _m, id) => void latest.set(id, b),
    outputCell: () => cell,
  });
  return {
    charts: (): Fig[] => [...latest.values()].filter((b) => b[PLOTLY]).map((b) => b[PLOTLY] as Fig),
    /** The progress output (a ProgressView's first display, before the plotly.js library and the chart). */
    progressHtml: (): string => String(latest.get(order[0])?.["text/html"] ?? ""),
  };
}

function colourOf(t: Trace): string | undefined {
  return t.line?.color ?? t.marker?.color;
}

/** Each series name has one colour, defined, in every panel, one legend entry, one legendgroup. */
function expectStableColours(fig: Fig): void {
  const names = [...new Set(fig.data.map((t) => t.name))];
  const colours = new Map<string, string>();
  for (const name of names) {
    const traces = fig.data.filter((t) => t.name === name);
    const cs = [...new Set(traces.map(colourOf))];
    expect(cs, `colours of ${name}`).toHaveLength(1);
    expect(cs[0], `colour of ${name}`).toMatch(/^(#|rgb)/);
    colours.set(String(name), cs[0]!);
    expect(traces.filter((t) => t.showlegend !== false), `legend entries of ${name}`).toHaveLength(1);
    expect(new Set(traces.map((t) => t.legendgroup)).size, `legend groups of ${name}`).toBe(1);
  }
  expect(colours.get("train")).toBeDefined();
  if (colours.has("validation")) expect(colours.get("validation")).not.toBe(colours.get("train"));
}

const logsOf = (e: number) => ({ loss: 0.7 + e / 100, accuracy: 0.5 + e / 10, val_loss: 0.8 + e / 100, val_accuracy: 0.4 + e / 10, lr: 0.01, time_s: 0.1 });

describe("ProgressView and History (fake notebook)", () => {
  it("train and validation keep one colour each in every panel, each named once in the legend, live and in History.plot()", () => {
    const h = new History();
    h.record(1, logsOf(1));
    h.record(2, logsOf(2));
    const fig = h.plot().toJSON() as unknown as Fig;
    expect(fig.data.filter((t) => t.name === "train")).toHaveLength(2); // loss and accuracy panels
    expectStableColours(fig);

    const nb = fakeNotebook();
    const view = new ProgressView(1, 2, 2, { metrics: ["accuracy"] });
    for (const e of [1, 2]) {
      view.batch(e, 1, 100, 1, 0.9, 0.01, true);
      view.epochEnd(e, logsOf(e));
    }
    view.close();
    const charts = nb.charts();
    expect(charts).toHaveLength(1);
    expectStableColours(charts[0]);
  });

  it("the batch line never gets the epoch means (no jump), and the final live chart is History.plot() plus that line", () => {
    const nb = fakeNotebook();
    const history = new History();
    const view = new ProgressView(1, 2, 4, { metrics: ["accuracy"], history });
    const means = [0.5, 0.25];
    const batchLoss = (e: number, s: number) => 1.2 - 0.1 * (4 * (e - 1) + s);
    for (const e of [1, 2]) {
      for (let s = 1; s <= 4; s++) view.batch(e, s, 100, 1, batchLoss(e, s), 0.01, true);
      const logs = { ...logsOf(e), loss: means[e - 1] };
      history.record(e, logs);
      view.epochEnd(e, logs);
    }
    view.close();
    const [chart] = nb.charts();
    const batches = chart.data.filter((t) => t.name === "train (batches)");
    expect(batches).toHaveLength(1);
    expect(batches[0].x).toEqual([0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2]);
    expect(batches[0].y).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((k) => 1.2 - 0.1 * k));
    // No trace that carries batch points (fractional epochs) holds an epoch mean.
    for (const t of chart.data) {
      if ((t.x ?? []).some((x) => !Number.isInteger(x))) for (const m of means) expect(t.y, `trace ${t.name}`).not.toContain(m);
    }
    const perEpoch = chart.data.filter((t) => t.name !== "train (batches)");
    const plotted = JSON.parse(JSON.stringify(history.plot().toJSON())) as Fig;
    expect(perEpoch).toEqual(plotted.data);
    expect(chart.layout).toEqual(plotted.layout);
    expect(perEpoch.find((t) => t.name === "train" && t.yaxis === "y")?.y).toEqual(means);
  });

  it("one panel per metric name, loss first (mae, a custom top3); lr and time_s get none", () => {
    const nb = fakeNotebook();
    const view = new ProgressView(1, 1, 1, { metrics: ["mae"] });
    view.epochEnd(1, { loss: 0.3, mae: 0.4, val_loss: 0.35, val_mae: 0.45, lr: 0.1, time_s: 1 });
    view.close();
    const [chart] = nb.charts();
    const panels = (fig: Fig) => Object.keys(fig.layout).filter((k) => /^yaxis\d*$/.test(k)).sort().map((k) => fig.layout[k].title?.text ?? fig.layout[k].title);
    expect(panels(chart)).toEqual(["loss", "mae"]);
    const mae = chart.data.filter((t) => t.yaxis === "y2").map((t) => [t.name, t.y]);
    expect(mae).toEqual([["train", [0.4]], ["validation", [0.45]]]);

    const h = new History();
    h.record(1, { loss: 1, top3: 0.6, val_loss: 1.1, val_top3: 0.5, lr: 0.1, time_s: 2 });
    const fig = h.plot().toJSON() as unknown as Fig;
    expect(panels(fig)).toEqual(["loss", "top3"]);
    expect(fig.data.map((t) => t.name)).toEqual(["train", "validation", "train", "validation"]);
    expectStableColours(fig);
  });

  it("messages: info in the normal text colour, warnings marked; outside a notebook info only when verbose > 0, warnings always", () => {
    const nb = fakeNotebook();
    const view = new ProgressView(1, 1, 1, { metrics: [] });
    view.message("Early stopping: val_loss did not improve for 3 epochs.");
    view.message("ctx.log says hello", "info");
    view.message("Loss became NaN at epoch 1", "warning");
    view.close();
    const markup = nb.progressHtml();
    const divOf = (text: string) => markup.split("</div>").find((d) => d.includes(text)) ?? "";
    for (const info of ["Early stopping", "ctx.log says hello"]) {
      expect(divOf(info), info).toMatch(/<div[^>]*>/);
      expect(divOf(info), info).not.toMatch(/color\s*:/);
    }
    expect(divOf("Loss became NaN")).toMatch(/color\s*:\s*#b45309/);

    setDisplaySink(undefined);
    const printed: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: unknown) => (printed.push(String(chunk)), true)) as typeof process.stdout.write;
    try {
      const quiet = new ProgressView(0, 1, 1, { metrics: [] });
      quiet.message("quiet info");
      quiet.message("quiet warning", "warning");
      quiet.message("Training interrupted (at epoch 1)"); // no level: an interrupt is a warning
      const loud = new ProgressView(1, 1, 1, { metrics: [] });
      loud.message("loud info");
    } finally {
      process.stdout.write = write;
    }
    expect(printed.join("")).toBe("quiet warning\nTraining interrupted (at epoch 1)\nloud info\n");
  });

  it("label smoothing: the floor of the smoothed loss, a note under the table (info) and in History", () => {
    // By hand, eps 0.1 and k 10: the true class gets 0.91, the 9 others 0.01 each.
    const byHand = -0.91 * Math.log(0.91) - 9 * 0.01 * Math.log(0.01); // 0.0858227 + 0.4144653
    expect(labelSmoothingFloor(0.1, 10)).toBeCloseTo(0.500288, 6);
    expect(labelSmoothingFloor(0.1, 10)).toBeCloseTo(byHand, 12);
    expect(labelSmoothingFloor(0, 10)).toBe(0);
    // It is what lepton's smoothed cross-entropy gives at its best: logits = log(target).
    const target = Array.from({ length: 10 }, (_, j) => (j === 3 ? 0.91 : 0.01));
    const best = tf.tidy(() => perSampleCrossEntropy(tf.tensor2d([target.map(Math.log)]), tf.tensor1d([3], "int32"), 0.1).dataSync()[0]);
    expect(best).toBeCloseTo(labelSmoothingFloor(0.1, 10), 4);

    const nb = fakeNotebook();
    const history = new History();
    const view = new ProgressView(1, 1, 1, { metrics: ["accuracy"], labelSmoothing: 0.1, classes: 10, history });
    view.epochEnd(1, logsOf(1));
    view.close();
    expect(history.notes).toHaveLength(1);
    expect(history.notes[0]).toMatch(/training loss includes label smoothing.*0\.5003.*validation loss is plain cross-entropy/);
    expect(history.toString()).toContain(`note: ${history.notes[0]}`);
    const markup = nb.progressHtml();
    expect(markup.split("0.5003").length - 1).toBe(1);
    const note = markup.split("</div>").find((d) => d.includes("0.5003")) ?? "";
    expect(note).not.toMatch(/color\s*:/);
    // No smoothing, or no class count: no note.
    const plain = new History();
    new ProgressView(1, 1, 1, { metrics: ["accuracy"], history: plain }).close();
    expect(plain.notes).toEqual([]);
  });

  it("the History of a live chart is text only as the same cell's result, a chart in another cell or through display()", () => {
    fakeNotebook("exec-7");
    const history = new History();
    const view = new ProgressView(1, 1, 1, { metrics: ["accuracy"], history });
    history.record(1, logsOf(1));
    view.epochEnd(1, logsOf(1));
    view.close();
    expect(Object.keys(resultBundle(history, "exec-7"))).toEqual(["text/plain"]);
    expect(resultBundle(history, "exec-8")[PLOTLY]).toBeDefined();
    expect(toMimeBundle(history)[PLOTLY]).toBeDefined(); // lepton.display(history)
    expect(history.params).toEqual({ epochs: 1, steps: 1 });

    // The old 4-argument form: the History recording an epoch while the view is open is tied to it.
    fakeNotebook("exec-9");
    const old = new History();
    const oldView = new ProgressView(1, 1, 1, true);
    old.record(1, logsOf(1));
    oldView.epochEnd(1, logsOf(1));
    oldView.close();
    const after = new History();
    after.record(1, logsOf(1)); // recorded after close(): not tied
    expect(Object.keys(resultBundle(old, "exec-9"))).toEqual(["text/plain"]);
    expect(resultBundle(after, "exec-9")[PLOTLY]).toBeDefined();
    // Without a live chart (verbose 0) the History is its cell's chart.
    const silent = new History();
    new ProgressView(0, 1, 1, { metrics: [], history: silent }).close();
    silent.record(1, logsOf(1));
    expect(resultBundle(silent, "exec-9")[PLOTLY]).toBeDefined();
  });

  it("history.history is Keras's per-epoch arrays by metric name; params from the constructor", async () => {
    await ready();
    const x = tf.tensor2d([[0, 0], [1, 1], [0, 1], [1, 0], [0.1, 0.2], [0.9, 0.8]]);
    const y = tf.tensor1d([0, 1, 0, 1, 0, 1], "int32");
    const data = fromTensors(x, y, { inputShape: [2], classes: ["a", "b"] });
    const model = mlp([2, 4, 2], { seed: 1 });
    const h = await train(model, data, { epochs: 2, batchSize: 3, verbose: 0, validationData: data });
    expect(Object.keys(h.history)).toEqual(expect.arrayContaining(["loss", "accuracy", "val_loss", "val_accuracy"]));
    expect(h.history.loss).toBe(h.metrics.loss);
    expect(h.history.val_accuracy).toHaveLength(2);
    expect(new History({ epochs: 3, steps: 10, batchSize: 32 }).params).toEqual({ epochs: 3, steps: 10, batchSize: 32 });
    expect(typeof h[DISPLAY_SYMBOL]).toBe("function");
    model.dispose();
    tf.dispose([x, y]);
  });
});

describe("one training display per cell (real kernel)", () => {
  const folder = realpathSync(mkdtempSync(join(tmpdir(), "lepton-training-display-")));
  let kernel: KernelClient;

  beforeAll(async () => {
    ensureBuilt();
    kernel = await KernelClient.start({ cwd: folder });
    const setup = await kernel.execute([
      `import * as lepton from "lepton";`,
      `const data = lepton.data.spirals({ n: 48, seed: 1 });`,
      `const val = lepton.data.spirals({ n: 24, seed: 2 });`,
      `const opts = { epochs: 2, batchSize: 8, validationData: val, optimizer: "adam" as const, lr: 0.01 };`,
    ].join("\n"), { timeoutMs: 120_000 });
    expect(setup.reply.content.status, JSON.stringify(setup.outputs)).toBe("ok");
  });

  afterAll(async () => {
    await kernel?.shutdown();
  });

  const figures = (exec: Execution) => exec.outputs.filter((o: any) => o.data?.[PLOTLY]) as { output_type: string; data: Record<string, any> }[];
  const resultOf = (exec: Execution) => exec.outputs.find((o) => o.output_type === "execute_result") as { data: Record<string, unknown> } | undefined;

  /** Every update_display_data updates an output this cell displayed (no figure comes from updates). */
  function expectUpdatesInPlace(exec: Execution): void {
    const shown = new Set(exec.messages.filter((m) => m.header.msg_type === "display_data").map((m) => m.content.transient?.display_id));
    const updates = exec.messages.filter((m) => m.header.msg_type === "update_display_data");
    expect(updates.length).toBeGreaterThan(0);
    for (const u of updates) expect(shown.has(u.content.transient?.display_id), JSON.stringify(u.content.transient)).toBe(true);
  }

  it("`const h = await lepton.train(...); h`: one figure (the live chart), the result is text only; a later `h` draws the chart", async () => {
    const exec = await kernel.execute(`const h = await lepton.train(lepton.models.mlp([2, 8, 3], { seed: 1 }), data, opts);\nh`, { timeoutMs: 120_000 });
    expect(exec.reply.content.status, JSON.stringify(exec.outputs).slice(0, 2000)).toBe("ok");
    const figs = figures(exec);
    expect(figs.map((f) => f.output_type)).toEqual(["display_data"]);
    expectUpdatesInPlace(exec);
    const chart = figs[0].data[PLOTLY];
    const names = chart.data.map((t: Trace) => t.name);
    expect(names).toEqual(["train (batches)", "train", "validation", "train", "validation"]);
    expect(chart.data.find((t: Trace) => t.name === "validation").y).toHaveLength(2);
    const result = resultOf(exec);
    expect(Object.keys(result!.data)).toEqual(["text/plain"]);
    expect(result!.data["text/plain"]).toMatch(/epoch\s+loss\s+accuracy\s+val_loss\s+val_accuracy/);

    const later = await kernel.execute(`h`);
    const again = figures(later);
    expect(again.map((f) => f.output_type)).toEqual(["execute_result"]);
    expect(again[0].data[PLOTLY].data.map((t: Trace) => t.name)).toEqual(["train", "validation", "train", "validation"]);
  });

  it("`await lepton.train(...)` as the last expression: one figure; lepton.display(history) in the same cell draws it again", async () => {
    const exec = await kernel.execute(`await lepton.train(lepton.models.mlp([2, 8, 3], { seed: 2 }), data, opts)`, { timeoutMs: 120_000 });
    expect(exec.reply.content.status).toBe("ok");
    expect(figures(exec).map((f) => f.output_type)).toEqual(["display_data"]);
    expect(Object.keys(resultOf(exec)!.data)).toEqual(["text/plain"]);

    const explicit = await kernel.execute(`const h2 = await lepton.train(lepton.models.mlp([2, 8, 3], { seed: 3 }), data, opts);\nlepton.display(h2);\nh2`, { timeoutMs: 120_000 });
    expect(explicit.reply.content.status).toBe("ok");
    expect(figures(explicit).map((f) => f.output_type)).toEqual(["display_data", "display_data"]);
    expect(Object.keys(resultOf(explicit)!.data)).toEqual(["text/plain"]);
  });
});
