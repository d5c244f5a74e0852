import { describe, it, expect, beforeAll } from "vitest";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as tf from "@tensorflow/tfjs";
import { ready } from "../src/backend";
import { mlp, lenet, neuron } from "../src/models";
import { evaluate, classificationMetrics, train } from "../src/training";
import { fromTensors } from "../src/data";
import { DISPLAY_SYMBOL } from "../src/display/display";
import { PYTHON, runCommand } from "./kernel_helpers";

beforeAll(async () => {
  // lepton's ready() picks the best backend once; then pin the pure-JS one (small models, exact numbers).
  await ready();
  await tf.setBackend("cpu");
});

function sklearnAvailable(): boolean {
  if (!fs.existsSync(PYTHON)) return false;
  return spawnSync(PYTHON, ["-c", "import sklearn"]).status === 0;
}
const hasSklearn = sklearnAvailable();
if (!hasSklearn) console.warn("evaluate.test: scikit-learn not found (apt-get install python3-sklearn); skipping the scikit-learn cross-check.");

/** Four noisy classes in 2-D so a small model makes some mistakes. */
function noisy(n: number, seed = 5) {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const x = new Float32Array(n * 2);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 4;
    x[2 * i] = (y[i] % 2) + 1.2 * (rand() - 0.5);
    x[2 * i + 1] = Math.floor(y[i] / 2) + 1.2 * (rand() - 0.5);
  }
  return fromTensors(x, y, { inputShape: [2], classes: ["w", "x", "y", "z"], name: "noisy" });
}

describe("classificationMetrics (hand-worked fixture)", () => {
  it("matches values worked out by hand", () => {
    // labels 0 0 1 1 2 2 ; predictions 0 1 1 1 0 2
    const m = classificationMetrics([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 0, 2], 3);
    expect(m.confusion).toEqual([[1, 1, 0], [0, 2, 0], [1, 0, 1]]);
    expect(m.accuracy).toBeCloseTo(4 / 6, 12);
    const p = m.perClass;
    expect([p[0].precision, p[0].recall, p[0].f1]).toEqual([0.5, 0.5, 0.5]);
    expect(p[1].precision).toBeCloseTo(2 / 3, 12);
    expect(p[1].recall).toBe(1);
    expect(p[1].f1).toBeCloseTo(0.8, 12);
    expect(p[2].precision).toBe(1);
    expect(p[2].recall).toBe(0.5);
    expect(p[2].f1).toBeCloseTo(2 / 3, 12);
    expect(p.map((c) => c.support)).toEqual([2, 2, 2]);
    expect(m.macro.precision).toBeCloseTo((0.5 + 2 / 3 + 1) / 3, 12);
    expect(m.macro.recall).toBeCloseTo((0.5 + 1 + 0.5) / 3, 12);
    expect(m.macro.f1).toBeCloseTo((0.5 + 0.8 + 2 / 3) / 3, 12);
    expect(m.weighted.f1).toBeCloseTo(m.macro.f1, 12); // equal supports
    expect(m.weighted.support).toBe(6);
  });

  it("weights by support and gives 0 for a class never predicted", () => {
    // labels 0 0 0 1 ; predictions 0 0 0 0: class 1 is never predicted
    const m = classificationMetrics([0, 0, 0, 1], [0, 0, 0, 0], 2);
    expect(m.perClass[1]).toEqual({ precision: 0, recall: 0, f1: 0, support: 1 });
    expect(m.perClass[0].precision).toBeCloseTo(0.75, 12);
    expect(m.perClass[0].f1).toBeCloseTo((2 * 0.75) / 1.75, 12);
    expect(m.weighted.f1).toBeCloseTo((3 * ((2 * 0.75) / 1.75)) / 4, 12);
  });
});

describe("evaluate", () => {
  it("loss and accuracy agree with a direct computation, no tensors leak, top losses are the worst samples", async () => {
    const data = noisy(200);
    const model = mlp([2, 8, 4]);
    await train(model, data, { epochs: 3, batchSize: 16, optimizer: { type: "adam", lr: 0.02 }, verbose: 0, seed: 1 });
    const before = tf.memory().numTensors;
    const r = await evaluate(model, data, { batchSize: 64, topLosses: 5 });
    expect(tf.memory().numTensors).toBe(before);
    // Independent: predict everything at once and compute with plain JS.
    const all = await data.batches({ batchSize: 200 }).next();
    const logits = (model.predict(all.value.x) as tf.Tensor).arraySync() as number[][];
    const labels = Array.from(all.value.y.dataSync(), Number);
    tf.dispose([all.value.x, all.value.y]);
    let loss = 0;
    let correct = 0;
    logits.forEach((row, i) => {
      const mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0));
      loss += lse - row[labels[i]];
      if (row.indexOf(mx) === labels[i]) correct++;
    });
    expect(r.n).toBe(200);
    expect(r.loss).toBeCloseTo(loss / 200, 4);
    expect(r.accuracy).toBeCloseTo(correct / 200, 12);
    expect(Array.from(r.labels)).toEqual(labels);
    expect(r.accuracy).toBeGreaterThan(0.4);
    expect(r.accuracy).toBeLessThan(1); // some mistakes, so the confusion matrix is interesting
    // Top losses: the 5 largest per-sample losses, worst first.
    const sorted = Array.from(r.sampleLosses).map((l, i) => [l, i]).sort((a, b) => b[0] - a[0]).slice(0, 5);
    expect(r.topLosses.map((t) => t.index)).toEqual(sorted.map((s) => s[1]));
    expect(r.topLosses[0].image).toHaveLength(2);
    // Confusion row sums are the supports; most confused pairs come from off-diagonal cells.
    r.confusion.forEach((row, t) => expect(row.reduce((a, b) => a + b, 0)).toBe(r.perClass[t].support));
    const mc = r.mostConfused(3);
    if (mc.length) expect(mc[0].count).toBe(Math.max(...r.confusion.flatMap((row, t) => row.filter((_, p) => p !== t))));
    // Display: a table, a heatmap; text like classification_report.
    const bundle = r[DISPLAY_SYMBOL]();
    expect(bundle["text/html"]).toMatch(/<table/);
    expect(bundle["text/html"]).toMatch(/macro avg/);
    expect(bundle["text/plain"]).toMatch(/weighted avg/);
    expect(r.confusionPlot().data[0].type).toBe("heatmap");
    model.dispose();
  });

  it.skipIf(!hasSklearn)("per-class precision/recall/F1/support, averages and confusion agree with scikit-learn", async () => {
    const data = noisy(300, 9);
    const model = mlp([2, 6, 4]);
    await train(model, data, { epochs: 2, batchSize: 32, optimizer: { type: "sgd", lr: 0.3 }, verbose: 0, seed: 2 });
    const r = await evaluate(model, data);
    const script = `
import json, sys
from sklearn.metrics import precision_recall_fscore_support, confusion_matrix, accuracy_score
d = json.load(sys.stdin)
y, p = d["y"], d["p"]
labels = list(range(4))
out = {"acc": accuracy_score(y, p), "cm": confusion_matrix(y, p, labels=labels).tolist()}
for avg in [None, "macro", "weighted"]:
    pr, rc, f1, sup = precision_recall_fscore_support(y, p, labels=labels, average=avg, zero_division=0)
    key = avg or "per"
    out[key] = [list(map(float, pr)), list(map(float, rc)), list(map(float, f1)), list(map(int, sup))] if avg is None else [pr, rc, f1]
print(json.dumps(out))
`;
    const res = await runCommand(PYTHON, ["-c", script], { input: JSON.stringify({ y: Array.from(r.labels), p: Array.from(r.predictions) }) });
    expect(res.status, res.stderr).toBe(0);
    const sk = JSON.parse(res.stdout);
    expect(r.accuracy).toBeCloseTo(sk.acc, 12);
    expect(r.confusion).toEqual(sk.cm);
    r.perClass.forEach((c, i) => {
      expect(c.precision).toBeCloseTo(sk.per[0][i], 12);
      expect(c.recall).toBeCloseTo(sk.per[1][i], 12);
      expect(c.f1).toBeCloseTo(sk.per[2][i], 12);
      expect(c.support).toBe(sk.per[3][i]);
    });
    expect([r.macro.precision, r.macro.recall, r.macro.f1].map((v) => +v.toFixed(10))).toEqual(sk.macro.map((v: number) => +v.toFixed(10)));
    expect([r.weighted.precision, r.weighted.recall, r.weighted.f1].map((v) => +v.toFixed(10))).toEqual(sk.weighted.map((v: number) => +v.toFixed(10)));
    model.dispose();
  });

  it("shows a grid of top-loss images for image data, and refuses mismatched data clearly", async () => {
    const n = 6;
    const x = new Uint8Array(n * 32 * 32 * 3);
    for (let i = 0; i < x.length; i++) x[i] = (i * 31) % 256;
    const data = fromTensors(x, Int32Array.from([0, 1, 2, 3, 4, 5]), { inputShape: [32, 32, 3], classes: ["a", "b", "c", "d", "e", "f"] });
    const model = lenet({ classes: 6 });
    const before = tf.memory().numTensors;
    const r = await evaluate(model, data, { topLosses: 4 });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.topLosses).toHaveLength(4);
    expect(r.topLosses[0].shape).toEqual([32, 32, 3]);
    const grid = r.topLossesPlot();
    expect(JSON.stringify(grid.toJSON())).toMatch(/ \/ /); // "actual / predicted" labels
    expect(String(r[DISPLAY_SYMBOL]()["text/html"])).toMatch(/Top losses/);
    const tooMany = fromTensors(new Float32Array(2 * 32 * 32 * 3), Int32Array.from([0, 11]), { inputShape: [32, 32, 3] });
    await expect(evaluate(model, tooMany)).rejects.toThrow(/12 classes .* outputs 6 values/);
    await expect(evaluate(mlp([3, 2]), data)).rejects.toThrow(/expects inputs of shape \[3\]/);
    model.dispose();
  });
});

describe("models whose last layer is softmax or one unit", () => {
  /** Loss, accuracy and confusion straight from model.predict, with the textbook formulas. */
  function direct(model: tf.LayersModel, x: Float32Array, y: Int32Array, inputs: number) {
    const out = tf.tidy(() => model.predict(tf.tensor2d(x, [y.length, inputs])) as tf.Tensor);
    const v = out.dataSync();
    const k = out.shape[1] as number;
    out.dispose();
    let loss = 0;
    let correct = 0;
    for (let i = 0; i < y.length; i++) {
      let pTrue: number;
      let pred: number;
      if (k === 1) {
        const p1 = model.layers[model.layers.length - 1].getConfig().activation === "sigmoid" ? v[i] : 1 / (1 + Math.exp(-v[i]));
        pTrue = y[i] === 1 ? p1 : 1 - p1;
        pred = p1 > 0.5 ? 1 : 0;
      } else {
        const row = Array.from(v.subarray(i * k, (i + 1) * k));
        pTrue = row[y[i]];
        pred = row.indexOf(Math.max(...row));
      }
      loss -= Math.log(pTrue);
      if (pred === y[i]) correct++;
    }
    return { loss: loss / y.length, accuracy: correct / y.length };
  }

  function twoClasses(n: number) {
    let s = 11;
    const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
    const x = new Float32Array(2 * n);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = i % 2;
      x[2 * i] = (y[i] ? 1 : -1) + 1.5 * (rand() - 0.5);
      x[2 * i + 1] = rand() - 0.5;
    }
    return { x, y };
  }

  it("softmax output: trained and evaluated with the cross-entropy of its probabilities (not a second softmax)", async () => {
    let s = 5;
    const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
    const x = new Float32Array(400);
    const y = new Int32Array(200);
    for (let i = 0; i < 200; i++) {
      y[i] = i % 4;
      x[2 * i] = (y[i] % 2) + 0.8 * (rand() - 0.5);
      x[2 * i + 1] = Math.floor(y[i] / 2) + 0.8 * (rand() - 0.5);
    }
    const data = fromTensors(x, y, { inputShape: [2], classes: ["a", "b", "c", "d"] });
    const model = mlp([2, 16, 4], { outputActivation: "softmax" });
    const h = await train(model, data, { epochs: 15, batchSize: 20, optimizer: { type: "adam", lr: 0.03 }, seed: 1, verbose: 0 });
    const report = await evaluate(model, data);
    const d = direct(model, x, y, 2);
    expect(report.loss).toBeCloseTo(d.loss, 4);
    expect(report.accuracy).toBeCloseTo(d.accuracy, 10);
    expect(report.accuracy).toBeGreaterThan(0.8);
    // A second softmax would squash the loss towards log(4) = 1.386 however good the model is.
    expect(h.last("loss")).toBeLessThan(0.6);
    model.dispose();
  });

  it("one sigmoid unit (logistic regression) or one linear unit: binary cross-entropy, 2x2 confusion", async () => {
    const { x, y } = twoClasses(100);
    const data = fromTensors(x, y, { inputShape: [2], classes: ["neg", "pos"] });
    for (const activation of ["sigmoid", "linear"] as const) {
      const model = neuron({ inputs: 2, activation });
      const before = tf.memory().numTensors;
      await train(model, data, { epochs: 20, batchSize: 10, optimizer: { type: "sgd", lr: 0.5 }, seed: 2, verbose: 0 });
      const report = await evaluate(model, data);
      expect(tf.memory().numTensors).toBe(before);
      const d = direct(model, x, y, 2);
      expect(report.loss).toBeCloseTo(d.loss, 4);
      expect(report.accuracy).toBeCloseTo(d.accuracy, 10);
      expect(report.accuracy).toBeGreaterThan(0.85);
      expect(report.confusion.length).toBe(2);
      expect(report.confusion.flat().reduce((a, b) => a + b, 0)).toBe(100);
      model.dispose();
    }
    const three = fromTensors(new Float32Array(6), new Int32Array([0, 1, 2]), { inputShape: [2] });
    await expect(train(neuron({ inputs: 2 }), three, { verbose: 0 })).rejects.toThrow(/3 classes .* but the model outputs 1 values/);
  });
});
