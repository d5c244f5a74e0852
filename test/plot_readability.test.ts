/**
 * Charts that read on their own (issue 18, "Charts"): classes in a legend instead of a colour bar,
 * axis titles on every teaching chart (and xTitle / yTitle everywhere), image-grid labels that fit
 * their cells and stay clear of plotly's modebar, and the backend's one-line display.
 * The browser half (real text boxes in Chromium) is test/browser-plot-labels.test.ts.
 */
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import * as plot from "../src/display/plot";
import { CLASS_COLORS } from "../src/display/plot/layout";
import { MODEBAR_BAND, labelWidth, layoutLabels } from "../src/display/plot/images";
import { trainingFigure } from "../src/training/history";
import { toMimeBundle } from "../src/display/display";
import { ready } from "../src/backend";

type L = plot.Layout;
const titleOf = (axis: unknown) => ((axis as L | undefined)?.title as L | undefined)?.text;

describe("classes in a legend", () => {
  it("scatter with labels draws one trace per class, named, with the points of that class only", () => {
    const x = [0, 1, 2, 3, 4, 5, 6];
    const y = [10, 11, 12, 13, 14, 15, 16];
    const labels = [2, 0, 1, 2, 0, 0, 1];
    const fig = plot.scatter({ x, y, labels, classNames: ["inner", "middle", "outer"], text: x.map((v) => `p${v}`), size: x.map((v) => v + 1) });
    expect(fig.data.map((t) => t.name)).toEqual(["inner", "middle", "outer"]);
    // Each class's points, found independently of the library.
    for (const [k, t] of fig.data.entries()) {
      const mine = x.filter((_, i) => labels[i] === k);
      expect(t.x).toEqual(mine);
      expect(t.y).toEqual(mine.map((v) => v + 10));
      expect(t.text).toEqual(mine.map((v) => `p${v}`));
      expect((t.marker as L).size).toEqual(mine.map((v) => v + 1));
      expect((t.marker as L).color).toBe(CLASS_COLORS[k]);
      expect((t.marker as L).showscale).toBeUndefined();
    }
    expect(fig.data.every((t) => t.mode === "markers" && t.type === "scatter")).toBe(true);
  });

  it("reads an int tensor of labels (as the spirals' Y), names classes 'class k' by default, and drops NaN labels", () => {
    const Y = tf.tensor1d([1, 0, 1, 1], "int32");
    const fig = plot.scatter({ x: tf.tensor1d([1, 2, 3, 4]), y: [4, 3, 2, 1], labels: Y });
    Y.dispose();
    expect(fig.data.map((t) => [t.name, t.x])).toEqual([["class 0", [2]], ["class 1", [1, 3, 4]]]);
    const names = plot.scatter({ x: [1, 2, 3], y: [1, 2, 3], labels: ["dog", "cat", "dog"], name: "train" });
    expect(names.data.map((t) => [t.name, t.x, t.legendgroup])).toEqual([["train: dog", [1, 3], "train"], ["train: cat", [2], "train"]]);
    const missing = plot.scatter({ x: [1, 2, 3], y: [1, 2, 3], labels: [0, NaN, 1] });
    expect(missing.data.map((t) => t.x)).toEqual([[1], [3]]);
  });

  it("uses the decision boundary's class colours and names, with a 'class' legend", () => {
    const pts = [[-1, -1], [1, 1], [-2, 0], [2, 0.5]];
    const fig = plot.decisionBoundary((p: tf.Tensor2D) => tf.sigmoid(p.sum(1)), pts, [0, 1, 0, 1], { resolution: 10, classNames: ["no", "yes"] });
    const points = fig.data.filter((t) => t.type === "scatter");
    expect(points.map((t) => [t.name, (t.marker as L).color])).toEqual([["no", CLASS_COLORS[0]], ["yes", CLASS_COLORS[1]]]);
    expect(((fig.layout.legend as L).title as L).text).toBe("class");
    const same = plot.scatter({ x: pts.map((p) => p[0]), y: pts.map((p) => p[1]), labels: [0, 1, 0, 1], classNames: ["no", "yes"] });
    expect(same.data.map((t) => [t.name, (t.marker as L).color])).toEqual(points.map((t) => [t.name, (t.marker as L).color]));
  });

  it("refuses labels with color, and labels of the wrong length", () => {
    expect(() => plot.scatter({ x: [1, 2], y: [1, 2], labels: [0, 1], color: [0, 1] })).toThrow(/both labels and color/);
    expect(() => plot.scatter({ x: [1, 2], y: [1, 2], labels: [0] })).toThrow(/2 points but 1 labels/);
  });
});

describe("axis titles", () => {
  it("line, scatter, bar, histogram and heatmap take xTitle / yTitle; xaxis's own title wins over them", () => {
    const figs = [
      plot.line({ y: [1, 2] }, { xTitle: "epoch", yTitle: "loss" }),
      plot.scatter({ x: [1, 2], y: [1, 2] }, { xTitle: "epoch", yTitle: "loss" }),
      plot.bar({ y: [1, 2] }, { xTitle: "epoch", yTitle: "loss" }),
      plot.histogram([1, 2, 2], { xTitle: "epoch", yTitle: "loss" }),
      plot.heatmap([[1, 2]], { xTitle: "epoch", yTitle: "loss" }),
    ];
    for (const f of figs) expect([titleOf(f.layout.xaxis), titleOf(f.layout.yaxis)]).toEqual(["epoch", "loss"]);
    // Other axis attributes stay: the heatmap keeps row 0 at the top, a log axis stays log.
    expect((figs[4].layout.yaxis as L).autorange).toBe("reversed");
    const log = plot.line({ y: [1, 10] }, { yTitle: "loss", yaxis: { type: "log" } });
    expect(log.layout.yaxis).toEqual({ title: { text: "loss" }, type: "log" });
    expect(titleOf(plot.line({ y: [1] }, { xTitle: "a", xaxis: { title: "b" } }).layout.xaxis)).toBe("b");
    // The histogram names its y axis by default.
    expect(titleOf(plot.histogram([1, 2]).layout.yaxis)).toBe("count");
    const s = plot.surface({ z: [[1, 2], [3, 4]] }, { xTitle: "w", yTitle: "b", zTitle: "loss" });
    expect([titleOf((s.layout.scene as L).xaxis), titleOf((s.layout.scene as L).yaxis), titleOf((s.layout.scene as L).zaxis)]).toEqual(["w", "b", "loss"]);
    expect(s.layout.xaxis).toBeUndefined();
  });

  it("every teaching chart names both axes by default, and the names can be changed", () => {
    const boundary = (o: plot.DecisionBoundaryOptions = {}) => plot.decisionBoundary((p: tf.Tensor2D) => tf.sigmoid(p.sum(1)), [[0, 0], [1, 1]], [0, 1], { resolution: 10, ...o });
    const charts: [string, (o: plot.ChartOptions) => plot.Figure, [string, string]][] = [
      ["activation", (o) => plot.activation("sigmoid", o), ["z (pre-activation)", "sigmoid(z) and sigmoid′(z)"]],
      ["loss surface", (o) => plot.lossSurface((w, b) => w * w + b * b, { w: [-1, 1], b: [-2, 2] }, [], { resolution: 5, ...o }), ["w", "b"]],
      ["decision boundary", (o) => boundary(o), ["x₁", "x₂"]],
      ["confusion matrix", (o) => plot.confusionMatrix([[1, 0], [0, 1]], o), ["predicted class", "true class"]],
    ];
    for (const [what, make, defaults] of charts) {
      expect([titleOf(make({}).layout.xaxis), titleOf(make({}).layout.yaxis)], what).toEqual(defaults);
      expect([titleOf(make({ xTitle: "X", yTitle: "Y" }).layout.xaxis), titleOf(make({ xTitle: "X", yTitle: "Y" }).layout.yaxis)], what).toEqual(["X", "Y"]);
    }
    expect(titleOf(plot.activation("leakyRelu").layout.yaxis)).toBe("leaky ReLU(z) and leaky ReLU′(z)");
    // The confusion matrix's axes stay categorical with a title change.
    expect(plot.confusionMatrix([[1, 0], [0, 1]], { xTitle: "guess" }).layout.xaxis).toMatchObject({ type: "category", title: { text: "guess" } });
  });

  it("training curves (History.plot and the live progress chart) name epoch and the metric on every panel", () => {
    const fig = trainingFigure([1, 2, 3], { loss: [1, 0.5, 0.3], val_loss: [1.1, 0.7, 0.6], accuracy: [0.5, 0.7, 0.8] }, ["loss", "accuracy"], { x: [0.5, 1, 1.5], y: [1.2, 1, 0.8] });
    expect([titleOf(fig.layout.xaxis), titleOf(fig.layout.yaxis), titleOf(fig.layout.xaxis2), titleOf(fig.layout.yaxis2)]).toEqual(["epoch", "loss", "epoch", "accuracy"]);
  });
});

describe("image-grid labels", () => {
  it("estimates text widths no smaller than a browser's sans-serif (wide letters count more)", () => {
    expect(labelWidth("WWWW", 10)).toBeGreaterThan(labelWidth("iiii", 10) * 2);
    // DejaVu Sans: a .613, u .634, t .392, o .612, m .974, b .635, i .278, l .278, e .615 em, and 3% to spare
    // (the browser test checks the estimate against the widths Chromium draws).
    expect(labelWidth("automobile", 12)).toBeCloseTo(12 * 1.03 * (0.613 + 0.634 + 0.392 + 0.612 * 2 + 0.974 + 0.635 + 0.278 * 2 + 0.615), 6);
    expect(labelWidth("猫", 10)).toBeCloseTo(10.3, 6);
  });

  it("wraps long labels onto two lines that fit the cell, cuts the rest with …, and sizes the font from the cell", () => {
    const labels = ["cat", "automobile / truck (0.93)", "a-very-long-single-word-label-that-cannot-wrap", "airplane / airplane (0.51) and much more text than fits"];
    const small = layoutLabels(labels, 56, 60);
    const big = layoutLabels(labels, 100, 104);
    // A label that cannot fit uncut takes the font down to its floor: 3 px below the cell's size (100 / 8 → 12 → 9), never below 8.
    expect([small.fontSize, big.fontSize]).toEqual([8, 9]);
    for (const l of [small, big]) {
      const lines = l.texts.map((t) => t.split("<br>"));
      expect(lines[0]).toEqual(["cat"]);
      for (const ls of lines) {
        expect(ls.length).toBeLessThanOrEqual(2);
        for (const line of ls) expect(labelWidth(line.replace(/&amp;/g, "&").replace(/&lt;/g, "<").replace(/&gt;/g, ">"), l.fontSize)).toBeLessThanOrEqual(l === small ? 60 : 104);
      }
      expect(lines[2]).toHaveLength(1);
      expect(lines[2][0].endsWith("…")).toBe(true);
      expect(lines[3][1].endsWith("…")).toBe(true);
      expect(l.lines).toBe(2);
      // The band above a row holds two lines of that font.
      expect(l.bandPx).toBeGreaterThanOrEqual(2 * 1.3 * l.fontSize);
    }
    // Text that fits is left alone, in the cell's font.
    expect(layoutLabels(["frog", "ship"], 100, 104)).toMatchObject({ texts: ["frog", "ship"], lines: 1, fontSize: 12 });
    // Labels that fit on two lines one size down are wrapped there, uncut, split where the longer line is shortest.
    const two = layoutLabels(["deer / automobile (0.86)", "horse / bird (0.83)"], 100, 104);
    expect(two.fontSize).toBe(11);
    expect(two.texts[1]).toBe("horse / bird (0.83)");
    const [a, b] = two.texts[0].split("<br>");
    expect(`${a} ${b}`).toBe("deer / automobile (0.86)");
    expect(Math.max(labelWidth(a, 11), labelWidth(b, 11))).toBeLessThanOrEqual(104);
    expect(labelWidth("deer / automobile (0.86)", 12)).toBeGreaterThan(104); // one line at 12 px would not fit
  });

  it("imageGrid keeps a band for the modebar above the first row, writes cut labels in full on hover, and escapes them", () => {
    const batch = { data: new Uint8Array(10 * 32 * 32 * 3).fill(90), shape: [10, 32, 32, 3] };
    const labels = ["<b>cat</b>", ...Array.from({ length: 9 }, (_, i) => `automobile / truck (0.9${i}) with a long tail of words`)];
    const fig = plot.imageGrid(batch, { labels, columns: 10 });
    const margin = fig.layout.margin as { l: number; r: number; t: number; b: number };
    expect(margin.t).toBeGreaterThanOrEqual(MODEBAR_BAND);
    const notes = fig.layout.annotations as L[];
    expect(notes[0].text).toBe("&lt;b&gt;cat&lt;/b&gt;");
    expect(notes[0].hovertext).toBeUndefined();
    expect(notes[1].hovertext).toBe(labels[1]);
    expect(String(notes[1].text)).toContain("<br>");
    // Neighbouring labels: centres a cell + gap apart, each label narrower than that (so they cannot meet).
    const centres = notes.map((a) => a.x as number);
    // Ten 32-px images in a row are drawn at 900 / 320 screen px per image pixel.
    const scale = 900 / 320;
    expect(fig.layout.width).toBe(Math.round((10 * 32 + 9 * 2) * scale) + margin.l + margin.r);
    const distance = (centres[1] - centres[0]) * scale;
    const size = ((notes[1].font as L).size as number);
    for (const a of notes.slice(1)) {
      for (const line of String(a.text).split("<br>")) expect(labelWidth(line, size)).toBeLessThan(distance);
    }
    // With a title, the title sits below the modebar's band and above the labels.
    const titled = plot.imageGrid(batch, { labels, columns: 5, title: "Top losses: actual / predicted (probability)" });
    const title = titled.layout.title as L;
    const h = titled.layout.height as number;
    expect((1 - (title.y as number)) * h).toBeGreaterThanOrEqual(MODEBAR_BAND);
    expect((titled.layout.margin as L).t).toBeGreaterThanOrEqual(MODEBAR_BAND + 20);
    // No modebar, no band.
    expect((plot.imageGrid(batch, { config: { displayModeBar: false } }).layout.margin as L).t).toBe(10);
  });
});

describe("the backend as a cell's last value", () => {
  it("shows one line of text and keeps its fields", async () => {
    const info = await ready();
    const bundle = toMimeBundle(info);
    expect(Object.keys(bundle)).toEqual(["text/plain"]);
    expect(bundle["text/plain"]).toMatch(new RegExp(`^lepton backend: ${info.name} — [^\\n]+$`));
    expect(Object.keys(info)).toEqual(expect.arrayContaining(["name", "description", "skipped"]));
    expect(JSON.parse(JSON.stringify(info)).name).toBe(tf.getBackend());
  });
});
