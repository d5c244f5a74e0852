import { describe, it, expect, beforeAll, afterEach } from "vitest";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as tf from "@tensorflow/tfjs";
import { ready } from "../src/backend";
import { predict, RegressionReport, regressionMetrics, ClassPredictions, RegressionPredictions } from "../src/training";
import * as lepton from "../src/index";
import { fromTensors } from "../src/data";
import { DISPLAY_SYMBOL } from "../src/display/display";
import { requestInterrupt, clearInterrupt, InterruptedError } from "../src/runtime/interrupt";
import { PLOTLY_MIME } from "../src/display/plot/render";

const PYTHON = "/usr/bin/python3";

beforeAll(async () => {
  // Same set-up as evaluate.test: lepton's ready() picks a backend once, then pin the pure-JS one.
  await ready();
  await tf.setBackend("cpu");
});

afterEach(() => clearInterrupt());

const hasSklearn = fs.existsSync(PYTHON) && spawnSync(PYTHON, ["-c", "import sklearn"]).status === 0;
if (!hasSklearn) console.warn("predict_regression.test: scikit-learn not found; skipping the scikit-learn cross-check.");

/** Deterministic pseudo-random numbers in [-1, 1). */
function rng(seed: number) {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
}

/** A one-layer dense model with the given weights W [d, k] (row-major) and bias b [k]. */
function dense(d: number, k: number, W: number[], b: number[], activation?: "softmax" | "sigmoid" | "linear") {
  const model = tf.sequential({ layers: [tf.layers.dense({ units: k, inputShape: [d], activation: activation ?? "linear" })] });
  model.setWeights([tf.tensor2d(W, [d, k]), tf.tensor1d(b)]);
  return model;
}

/** x·W + b in float64, row-major [n, k]. */
function affine(x: number[], n: number, d: number, W: number[], b: number[], k: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) {
      let z = b[c];
      for (let j = 0; j < d; j++) z += x[i * d + j] * W[j * k + c];
      out.push(z);
    }
  }
  return out;
}

function softmaxRows(z: number[], k: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < z.length; i += k) {
    const row = z.slice(i, i + k);
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((a, c) => a + c, 0);
    out.push(...e.map((v) => v / s));
  }
  return out;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-6) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (Math.abs(actual[i] - expected[i]) > tol) throw new Error(`value ${i}: got ${actual[i]}, expected ${expected[i]} (tolerance ${tol})`);
  }
}

describe("regressionMetrics (hand-worked)", () => {
  it("single output: MSE, RMSE, MAE and R² of a small fixture", () => {
    // errors (t - p): 0.5, -0.5, 0, -1 ; target mean 2.875
    const m = regressionMetrics([2.5, 0, 2, 8], [3, -0.5, 2, 7]);
    expect(m.mse).toBeCloseTo(1.5 / 4, 12);
    expect(m.rmse).toBeCloseTo(Math.sqrt(0.375), 12);
    expect(m.mae).toBeCloseTo(2 / 4, 12);
    // SS_tot = 0.125² + 3.375² + 0.875² + 4.125² = 29.1875, SS_res = 1.5
    expect(m.r2).toBeCloseTo(1 - 1.5 / 29.1875, 12);
    expect(m.r2).toBeCloseTo(0.9486081370449679, 12); // scikit-learn's documented value
    expect(m.perOutput).toHaveLength(1);
    expect(m.perOutput[0].r2).toBeCloseTo(m.r2, 12);
  });

  it("multi-output: overall over all values, R² the uniform average of per-output R²", () => {
    // y_true = [[0.5, 1], [-1, 1], [7, -6]], y_pred = [[0, 2], [-1, 2], [8, -5]] (scikit-learn's docs example)
    const m = regressionMetrics([0, 2, -1, 2, 8, -5], [0.5, 1, -1, 1, 7, -6], 2);
    // output 0: errors 0.5, 0, -1 -> SS_res 1.25; mean 13/6; SS_tot = 217/6
    // output 1: errors -1, -1, -1 -> SS_res 3; mean -4/3; SS_tot = 294/9
    const r2a = 1 - 1.25 / (217 / 6);
    const r2b = 1 - 3 / (294 / 9);
    expect(m.perOutput[0].mse).toBeCloseTo(1.25 / 3, 12);
    expect(m.perOutput[1].mse).toBeCloseTo(1, 12);
    expect(m.perOutput[0].mae).toBeCloseTo(0.5, 12);
    expect(m.perOutput[1].mae).toBeCloseTo(1, 12);
    expect(m.perOutput[0].r2).toBeCloseTo(r2a, 12);
    expect(m.perOutput[1].r2).toBeCloseTo(r2b, 12);
    expect(m.r2).toBeCloseTo((r2a + r2b) / 2, 12);
    expect(m.r2).toBeCloseTo(0.9368005266622779, 12); // scikit-learn docs: 0.936...
    expect(m.mse).toBeCloseTo(4.25 / 6, 12); // docs: 0.708...
    expect(m.rmse).toBeCloseTo(Math.sqrt(4.25 / 6), 12);
    expect(m.mae).toBeCloseTo(0.75, 12);
  });

  it("a constant target gives R² 1 when predicted exactly and 0 otherwise (scikit-learn's force_finite)", () => {
    expect(regressionMetrics([2, 2, 2], [2, 2, 2]).r2).toBe(1);
    expect(regressionMetrics([1, 2, 3], [2, 2, 2]).r2).toBe(0);
  });

  it("rejects lengths that do not match or do not split into outputs", () => {
    expect(() => regressionMetrics([1, 2], [1, 2, 3])).toThrow(/same length/);
    expect(() => regressionMetrics([1, 2, 3], [1, 2, 3], 2)).toThrow(/2 outputs/);
  });

  it.skipIf(!hasSklearn)("agrees with scikit-learn on random multi-output data", () => {
    const r = rng(11);
    const n = 60, outputs = 3;
    const pred = Float32Array.from({ length: n * outputs }, () => r() * 3);
    const target = Float32Array.from(pred, (p, i) => p + r() * (1 + (i % outputs)) + (i % outputs));
    const script =
      "import json,sys\nimport numpy as np\nfrom sklearn.metrics import mean_squared_error as mse, mean_absolute_error as mae, r2_score as r2\n" +
      "d=json.load(sys.stdin); o=d['o']; p=np.array(d['p'],dtype=np.float64).reshape(-1,o); t=np.array(d['t'],dtype=np.float64).reshape(-1,o)\n" +
      "print(json.dumps({'mse':mse(t,p),'mae':mae(t,p),'r2':r2(t,p),'mse_raw':list(mse(t,p,multioutput='raw_values')),'mae_raw':list(mae(t,p,multioutput='raw_values')),'r2_raw':list(r2(t,p,multioutput='raw_values'))}))\n";
    const res = spawnSync(PYTHON, ["-c", script], { input: JSON.stringify({ o: outputs, p: Array.from(pred), t: Array.from(target) }), encoding: "utf8" });
    expect(res.status, res.stderr).toBe(0);
    const sk = JSON.parse(res.stdout);
    const m = regressionMetrics(pred, target, outputs);
    expect(m.mse).toBeCloseTo(sk.mse, 10);
    expect(m.mae).toBeCloseTo(sk.mae, 10);
    expect(m.r2).toBeCloseTo(sk.r2, 10);
    m.perOutput.forEach((o, j) => {
      expect(o.mse).toBeCloseTo(sk.mse_raw[j], 10);
      expect(o.mae).toBeCloseTo(sk.mae_raw[j], 10);
      expect(o.r2).toBeCloseTo(sk.r2_raw[j], 10);
    });
    // and the single-output path on the first output's column
    const col = (a: Float32Array) => Float32Array.from({ length: n }, (_, i) => a[i * outputs]);
    expect(regressionMetrics(col(pred), col(target)).r2).toBeCloseTo(sk.r2_raw[0], 10);
  });
});

describe("RegressionReport", () => {
  it("from(): fields, one-line text, perOutput only for several outputs", () => {
    const r = RegressionReport.from([2.5, 0, 2, 8], [3, -0.5, 2, 7], 1, 0.375);
    expect(r).toBeInstanceOf(RegressionReport);
    expect(r.n).toBe(4);
    expect(r.mse).toBeCloseTo(0.375, 12);
    expect(r.perOutput).toBeUndefined();
    expect(r.toString()).toBe("loss 0.3750   mse 0.3750   rmse 0.6124   mae 0.5000   r2 0.9486   (4 samples)");
    const m = RegressionReport.from([0, 2, -1, 2, 8, -5], [0.5, 1, -1, 1, 7, -6], 2, 1);
    expect(m.n).toBe(3);
    expect(m.perOutput).toHaveLength(2);
    expect(m.perOutput![1].mse).toBeCloseTo(1, 12);
    expect(() => RegressionReport.from([1, 2], [1], 1, 0)).toThrow(/same length/);
  });

  it("displays a metrics table and a Plotly chart with both panels and their reference lines", () => {
    const pred = [1, 2, 3.5, 3];
    const target = [1.5, 2, 3, 4];
    const r = RegressionReport.from(pred, target, 1, 0.4);
    const bundle = r[DISPLAY_SYMBOL]();
    expect(bundle["text/plain"]).toBe(r.toString());
    const html = String(bundle["text/html"]);
    expect(html).toMatch(/<table/);
    expect(html).toMatch(/<th>rmse<\/th>/);
    expect(html).toMatch(/class="lepton-plot"/);
    expect(html).toMatch(/Plotly/);
    expect(html).toMatch(/P\.newPlot/);
    const fig = r.plot().toJSON();
    // two panels: points + y = x on (x, y), points + y = 0 on (x2, y2)
    expect(fig.data).toHaveLength(4);
    const [fit, diag, res, zero] = fig.data as any[];
    expect(fit.x).toEqual(target);
    expect(fit.y).toEqual(pred);
    expect(fit.mode).toBe("markers");
    expect(diag.x).toEqual([1, 4]);
    expect(diag.y).toEqual([1, 4]);
    expect(res.xaxis).toBe("x2");
    expect(res.x).toEqual(pred);
    expect(res.y).toEqual(target.map((t, i) => t - pred[i]));
    expect(zero.y).toEqual([0, 0]);
    expect(zero.x).toEqual([1, 3.5]);
    expect(JSON.stringify(fig.layout)).toMatch(/Predicted vs actual/);
    expect(JSON.stringify(fig.layout)).toMatch(/Residuals vs predicted/);
  });

  it("subsamples large data to at most 5000 points, evenly and deterministically, and says so", () => {
    const n = 12_345;
    const target = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
    const pred = Float32Array.from(target, (t, i) => t + 0.01 * Math.cos(i));
    const r = RegressionReport.from(pred, target, 1, 0);
    const f1 = r.plot().toJSON();
    const f2 = r.plot().toJSON();
    const pts = (f1.data[0] as any).x as number[];
    expect(pts.length).toBeLessThanOrEqual(5000);
    expect(pts.length).toBeGreaterThan(4000);
    expect((f2.data[0] as any).x).toEqual(pts);
    expect(pts[0]).toBeCloseTo(target[0], 6);
    expect(pts[1]).toBeCloseTo(target[Math.floor(n / 5000)], 6);
    expect(JSON.stringify(f1.layout.title)).toMatch(/5000 of 12345 points shown/);
    // multi-output: the budget counts every value
    const m = RegressionReport.from(new Float32Array(4000 * 3), Float32Array.from({ length: 12000 }, (_, i) => i), 3, 0);
    const series = m.plot().toJSON().data.filter((t: any) => t.mode === "markers");
    expect(series).toHaveLength(6); // 3 outputs × 2 panels
    expect(series.slice(0, 3).reduce((s: number, t: any) => s + t.x.length, 0)).toBeLessThanOrEqual(5000);
  });
});

describe("predict", () => {
  // 3 classes from 2 features
  const W = [0.5, -1, 0.25, 2, 0.3, -0.7];
  const b = [0.1, -0.2, 0.05];
  const n = 7;
  const r = rng(3);
  const xs = Array.from({ length: n * 2 }, () => r() * 2);
  const ys = [0, 1, 2, 2, 1, 0, 1];

  it("a logit classifier on a Dataset: softmax(x·W + b), arg-max, labels and class names; batchSize not dividing n; no leaks", async () => {
    const model = dense(2, 3, W, b);
    const data = fromTensors(Float32Array.from(xs), Int32Array.from(ys), { inputShape: [2], classes: ["a", "b", "c"] });
    const before = tf.memory().numTensors;
    const p = await predict(model, data, { batchSize: 3 });
    expect(tf.memory().numTensors).toBe(before);
    expect(p).toBeInstanceOf(ClassPredictions);
    if (p.task !== "classification") throw new Error("expected a classifier");
    const expected = softmaxRows(affine(xs, n, 2, W, b, 3), 3);
    expect(p.n).toBe(n);
    expect(p.k).toBe(3);
    expect(p.probabilities).toBeInstanceOf(Float32Array);
    expectClose(p.probabilities, expected);
    const argmax = Array.from({ length: n }, (_, i) => {
      const row = expected.slice(3 * i, 3 * i + 3);
      return row.indexOf(Math.max(...row));
    });
    expect(Array.from(p.classes)).toEqual(argmax);
    expect(Array.from(p.labels!)).toEqual(ys);
    expect(p.classNames).toEqual(["a", "b", "c"]);
    expect(p.accuracy).toBeCloseTo(argmax.filter((c, i) => c === ys[i]).length / n, 12);
    // the same through { x, y } tensors and one batch of everything
    const x = tf.tensor2d(xs, [n, 2]);
    const y = tf.tensor1d(ys, "int32");
    const q = await predict(model, { x, y }, { batchSize: 256 });
    expectClose((q as ClassPredictions).probabilities, expected);
    tf.dispose([x, y]);
    model.dispose();
  });

  it("a bare input tensor: softmax output and several linear units are classifiers; toTensor copies", async () => {
    const x = tf.tensor2d(xs, [n, 2]);
    const soft = dense(2, 3, W, b, "softmax");
    const logit = dense(2, 3, W, b);
    const expected = softmaxRows(affine(xs, n, 2, W, b, 3), 3);
    const before = tf.memory().numTensors;
    const p = await predict(soft, x, { batchSize: 2 });
    const q = await predict(logit, x, { batchSize: 5 });
    expect(tf.memory().numTensors).toBe(before);
    expect(p.task).toBe("classification");
    expect(q.task).toBe("classification");
    expectClose((p as ClassPredictions).probabilities, expected);
    expectClose((q as ClassPredictions).probabilities, expected);
    expect((p as ClassPredictions).labels).toBeUndefined();
    const t = p.toTensor();
    expect(t.shape).toEqual([n, 3]);
    expectClose(t.dataSync(), expected);
    t.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x]);
    soft.dispose();
    logit.dispose();
  });

  it("a binary sigmoid model gives k = 2 probabilities [1 - p, p]; one linear unit is regression unless task says classification", async () => {
    const w = [1.5, -0.75];
    const bias = [0.2];
    const x = tf.tensor2d(xs, [n, 2]);
    const z = affine(xs, n, 2, w, bias, 1);
    const sig = dense(2, 1, w, bias, "sigmoid");
    const p = await predict(sig, x, { batchSize: 4 });
    if (p.task !== "classification") throw new Error("expected a classifier");
    expect(p.k).toBe(2);
    expectClose(p.probabilities, z.flatMap((v) => [1 - sigmoid(v), sigmoid(v)]));
    expect(Array.from(p.classes)).toEqual(z.map((v) => (v > 0 ? 1 : 0)));

    const lin = dense(2, 1, w, bias);
    const reg = await predict(lin, x, { batchSize: 4 });
    expect(reg).toBeInstanceOf(RegressionPredictions);
    if (reg.task !== "regression") throw new Error("expected regression");
    expect(reg.shape).toEqual([n, 1]);
    expectClose(reg.values, z, 1e-5);
    expect(reg.targets).toBeUndefined();
    const cls = await predict(lin, x, { task: "classification", batchSize: 4 });
    expect(cls.k).toBe(2);
    expectClose(cls.probabilities, z.flatMap((v) => [1 - sigmoid(v), sigmoid(v)]));
    // with labels, the data decides, and a task that disagrees is an error
    const y = tf.tensor1d([0, 1, 0, 1, 0, 1, 1], "int32");
    const withLabels = await predict(lin, { x, y });
    expect(withLabels.task).toBe("classification");
    await expect(predict(lin, { x, y }, { task: "regression" })).rejects.toThrow(/class labels/);
    tf.dispose([x, y]);
    sig.dispose();
    lin.dispose();
  });

  it("regression with targets: values x·W + b of shape [n, 2], targets, report() metrics, display", async () => {
    const W2 = [0.4, -1.2, 0.9, 0.3];
    const b2 = [0.5, -0.1];
    const model = dense(2, 2, W2, b2);
    const values = affine(xs, n, 2, W2, b2, 2);
    const targets = values.map((v, i) => v + (i % 3) * 0.1 - 0.1);
    const x = tf.tensor2d(xs, [n, 2]);
    const y = tf.tensor2d(targets, [n, 2]);
    const before = tf.memory().numTensors;
    const p = await predict(model, { x, y }, { batchSize: 3 });
    expect(tf.memory().numTensors).toBe(before);
    if (p.task !== "regression") throw new Error("expected regression");
    expect(p.shape).toEqual([n, 2]);
    expect(p.n).toBe(n);
    expectClose(p.values, values, 1e-5);
    expectClose(p.targets!, targets, 1e-6);
    const report = p.report();
    let sq = 0;
    for (let i = 0; i < values.length; i++) sq += (targets[i] - values[i]) ** 2;
    expect(report.mse).toBeCloseTo(sq / values.length, 6);
    expect(report.loss).toBeCloseTo(report.mse, 12);
    expect(report.perOutput).toHaveLength(2);
    const t = p.toTensor();
    expect(t.shape).toEqual([n, 2]);
    t.dispose();
    const bundle = p[DISPLAY_SYMBOL]();
    expect(String(bundle["text/plain"])).toMatch(/^Predictions: 7 samples × 2 outputs/);
    expect(String(bundle["text/html"])).toMatch(/<th>target 1<\/th>/);
    const rb = report[DISPLAY_SYMBOL]();
    expect(String(rb["text/html"])).toMatch(/lepton-plot/);
    expect(rb[PLOTLY_MIME]).toBeUndefined(); // the chart travels inside the HTML
    tf.dispose([x, y]);
    model.dispose();
  });

  it("runs in inference mode: dropout is off", async () => {
    const model = tf.sequential({
      layers: [tf.layers.dropout({ rate: 0.9, inputShape: [2] }), tf.layers.dense({ units: 3 })],
    });
    model.layers[1].setWeights([tf.tensor2d(W, [2, 3]), tf.tensor1d(b)]);
    const x = tf.tensor2d(xs, [n, 2]);
    const p = await predict(model, x, { batchSize: 3 });
    expectClose((p as ClassPredictions).probabilities, softmaxRows(affine(xs, n, 2, W, b, 3), 3));
    tf.dispose([x]);
    model.dispose();
  });

  it("classifier display: text summary and an HTML table of the first rows", async () => {
    const model = dense(2, 3, W, b);
    const data = fromTensors(Float32Array.from(xs), Int32Array.from(ys), { inputShape: [2], classes: ["a", "b", "c"] });
    const p = await predict(model, data);
    const bundle = p[DISPLAY_SYMBOL]();
    const text = String(bundle["text/plain"]);
    expect(text).toMatch(/^Predictions: 7 samples × 3 classes, accuracy/);
    expect(text.split("\n")).toHaveLength(1 + 5 + 1); // header, 5 rows, "… 2 more"
    const html = String(bundle["text/html"]);
    expect(html).toMatch(/<table/);
    expect(html).toMatch(/<th>P\(b\)<\/th>/);
    expect(html.match(/<tr>/g)).toHaveLength(1 + n);
    model.dispose();
  });

  it("stops with InterruptedError between batches and leaks no tensors", async () => {
    const model = dense(2, 3, W, b);
    const x = tf.tensor2d(xs, [n, 2]);
    const data = fromTensors(Float32Array.from(xs), Int32Array.from(ys), { inputShape: [2] });
    const before = tf.memory().numTensors;
    requestInterrupt();
    await expect(predict(model, data, { batchSize: 2 })).rejects.toThrow(InterruptedError);
    await expect(predict(model, x, { batchSize: 2 })).rejects.toThrow(/predict\(\) interrupted after 0 of 7 samples/);
    expect(tf.memory().numTensors).toBe(before);
    clearInterrupt();
    const p = await predict(model, x);
    expect(p.n).toBe(n);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x]);
    model.dispose();
  });

  it("rejects an input tensor of the wrong shape and a bad batchSize", async () => {
    const model = dense(2, 3, W, b);
    const x = tf.zeros([4, 3]);
    await expect(predict(model, x)).rejects.toThrow(/expects inputs of shape \[samples, 2\]/);
    const ok = tf.zeros([4, 2]);
    await expect(predict(model, ok, { batchSize: 0 })).rejects.toThrow(/batchSize/);
    tf.dispose([x, ok]);
    model.dispose();
  });

  it("is exported as lepton.predict with the report helpers", () => {
    expect(typeof predict).toBe("function");
    expect(lepton.predict).toBe(predict);
    expect(lepton.RegressionReport).toBe(RegressionReport);
    expect(lepton.regressionMetrics).toBe(regressionMetrics);
  });
});
