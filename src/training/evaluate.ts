/**
 * evaluate(model, data): loss, accuracy, per-class precision/recall/F1/support with macro and
 * weighted averages, the confusion matrix, the most-confused pairs and the samples with the
 * highest loss. The report displays as a table, a confusion heatmap and a grid of top losses.
 */
import * as tf from "@tensorflow/tfjs";
import { ready } from "../backend";
import { interruptRequested, InterruptedError } from "../runtime/interrupt";
import { DISPLAY_SYMBOL, toMimeBundle, type Displayable, type MimeBundle } from "../display/display";
import { confusionMatrix as confusionPlot } from "../display/plot/teaching";
import { imageGrid } from "../display/plot/images";
import type { Figure } from "../display/plot/figure";
import { checkFits, isClassification, toDataset, type DataInput } from "./inputs";
import { makeObjective, type LossSpec } from "./objective";
import { RegressionReport } from "./regression";
import { checkOptionNames } from "../util/options";
import { classificationMetrics, type ClassMetrics } from "./metrics";
import { formatMetric } from "./history";

/** The test-time augmentations of `evaluate()`. */
export type TTA = "none" | "flip" | "flip-translate";
export const TTAS: readonly TTA[] = ["none", "flip", "flip-translate"];

export interface EvaluateOptions {
  /** Samples per batch (default 256). */
  batchSize?: number;
  /** How many highest-loss samples to keep with their images (default 16). */
  topLosses?: number;
  /** The loss to report (default: the compiled model's, else what the targets call for, as train()). */
  loss?: LossSpec;
  /**
   * Test-time augmentation, images [n, h, w, c] only. "flip" averages the model's outputs on each image
   * and on its mirror image (left-right), as airbench and the DAWNBench entries do; usually worth a few
   * tenths of a percent on CIFAR-10 for a model trained with flips. "flip-translate" (airbench's
   * level 2) gives that average half the weight and shares the other half between the same average on
   * the image shifted by one pixel diagonally, each way (edges reflected): six forward passes
   * instead of two, for a model trained with flips and crops. Default: none.
   */
  tta?: TTA;
}

export interface TopLoss {
  /** Position of the sample in the dataset (its order without shuffling). */
  index: number;
  loss: number;
  label: number;
  predicted: number;
  /** Softmax probability of the predicted class. */
  probability: number;
  /** The model input (float values, shape `shape`). */
  image: Float32Array;
  shape: number[];
}

export interface ConfusedPair {
  actual: string;
  predicted: string;
  count: number;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export class EvaluationReport implements Displayable {
  constructor(
    /** Mean loss (cross-entropy for classifiers, MSE for regression). */
    readonly loss: number,
    /** Fraction correct (NaN for regression). */
    readonly accuracy: number,
    /** Number of samples. */
    readonly n: number,
    readonly classes: string[],
    /** confusion[t][p] = samples of true class t predicted as p. */
    readonly confusion: number[][],
    readonly perClass: ClassMetrics[],
    readonly macro: ClassMetrics,
    readonly weighted: ClassMetrics,
    /** True label of every sample, in dataset order. */
    readonly labels: Int32Array,
    /** Predicted label of every sample. */
    readonly predictions: Int32Array,
    /** Loss of every sample. */
    readonly sampleLosses: Float32Array,
    /** Highest-loss samples, worst first. */
    readonly topLosses: TopLoss[],
    /** For regression data: MSE, RMSE, MAE, R², and the predicted-against-actual and residual charts. */
    readonly regression?: RegressionReport,
  ) {}

  /** Regression metrics (undefined for classifiers). */
  get mse(): number | undefined {
    return this.regression?.mse;
  }
  get rmse(): number | undefined {
    return this.regression?.rmse;
  }
  get mae(): number | undefined {
    return this.regression?.mae;
  }
  get r2(): number | undefined {
    return this.regression?.r2;
  }

  /** The `n` most frequent (actual, predicted) mistakes. */
  mostConfused(n = 5): ConfusedPair[] {
    const pairs: ConfusedPair[] = [];
    this.confusion.forEach((row, t) =>
      row.forEach((count, p) => {
        if (t !== p && count > 0) pairs.push({ actual: this.classes[t], predicted: this.classes[p], count });
      }),
    );
    return pairs.sort((a, b) => b.count - a.count).slice(0, n);
  }

  /** Heatmap of the confusion matrix with counts in the cells. */
  confusionPlot(): Figure {
    return confusionPlot(this.confusion, { labels: this.classes, title: `Confusion matrix (accuracy ${(100 * this.accuracy).toFixed(1)}%)` });
  }

  /** Images of the highest-loss samples labelled "true / predicted (p)". */
  topLossesPlot(n = this.topLosses.length): Figure {
    const items = this.topLosses.slice(0, n);
    if (items.length === 0) throw new Error("evaluate: no top losses were kept (pass topLosses > 0).");
    const shape = items[0].shape;
    const images = items.map((t) => ({ data: t.image, shape }));
    return imageGrid(images as any, {
      labels: items.map((t) => `${this.classes[t.label]} / ${this.classes[t.predicted]} (${t.probability.toFixed(2)})`),
      labelColors: items.map((t) => (t.label === t.predicted ? "green" : "red")),
      title: "Top losses: actual / predicted (probability)",
    });
  }

  /** The per-class table as text (like scikit-learn's classification_report). */
  toString(): string {
    if (this.regression) return this.regression.toString();
    if (!this.classes.length) return `loss ${formatMetric(this.loss)} over ${this.n} samples`;
    const w = Math.max(12, ...this.classes.map((c) => c.length));
    const row = (name: string, m: ClassMetrics) =>
      `${name.padStart(w)}  ${m.precision.toFixed(4).padStart(9)}  ${m.recall.toFixed(4).padStart(9)}  ${m.f1.toFixed(4).padStart(9)}  ${String(m.support).padStart(7)}`;
    const lines = [
      `loss ${formatMetric(this.loss)}   accuracy ${(100 * this.accuracy).toFixed(2)}%   (${this.n} samples)`,
      `${"".padStart(w)}  ${"precision".padStart(9)}  ${"recall".padStart(9)}  ${"f1".padStart(9)}  ${"support".padStart(7)}`,
      ...this.perClass.map((m, i) => row(this.classes[i], m)),
      row("macro avg", this.macro),
      row("weighted avg", this.weighted),
    ];
    const confused = this.mostConfused(5);
    if (confused.length) lines.push("most confused: " + confused.map((p) => `${p.actual}→${p.predicted} ${p.count}`).join(", "));
    return lines.join("\n");
  }

  /** HTML table of the metrics. */
  tableHtml(): string {
    const td = (v: string) => `<td style="text-align:right">${v}</td>`;
    const row = (name: string, m: ClassMetrics, bold = false) =>
      `<tr${bold ? ' style="font-weight:bold"' : ""}><td>${escapeHtml(name)}</td>${td(m.precision.toFixed(3))}${td(m.recall.toFixed(3))}${td(m.f1.toFixed(3))}${td(String(m.support))}</tr>`;
    const confused = this.mostConfused(5)
      .map((p) => `<li>${escapeHtml(p.actual)} → ${escapeHtml(p.predicted)}: ${p.count}</li>`)
      .join("");
    return (
      `<div><b>loss</b> ${formatMetric(this.loss)} &nbsp; <b>accuracy</b> ${(100 * this.accuracy).toFixed(2)}% &nbsp; (${this.n} samples)</div>` +
      `<table><tr><th>class</th><th>precision</th><th>recall</th><th>f1</th><th>support</th></tr>` +
      this.perClass.map((m, i) => row(this.classes[i], m)).join("") +
      row("macro avg", this.macro, true) +
      row("weighted avg", this.weighted, true) +
      `</table>` +
      (confused ? `<div><b>Most confused</b> (actual → predicted: count)<ul>${confused}</ul></div>` : "")
    );
  }

  [DISPLAY_SYMBOL](): MimeBundle {
    if (this.regression) return this.regression[DISPLAY_SYMBOL]();
    if (!this.classes.length) return { "text/plain": this.toString() };
    let markup = this.tableHtml();
    const figs: Figure[] = [this.confusionPlot()];
    if (this.topLosses.length && this.topLosses[0].shape.length >= 2) {
      try {
        figs.push(this.topLossesPlot());
      } catch {
        /* inputs that are not images: no grid */
      }
    }
    for (const f of figs) {
      const h = toMimeBundle(f)["text/html"];
      if (typeof h === "string") markup += h;
    }
    return { "text/html": markup, "text/plain": this.toString() };
  }
}

/**
 * Evaluate a classifier (or regressor) on data, in inference mode.
 *
 *   const report = await lepton.evaluate(model, cifar.test);   // table, confusion matrix, top losses
 *   report.accuracy; report.perClass[3].f1; report.mostConfused(3);
 */
export async function evaluate(model: tf.LayersModel, data: DataInput, options: EvaluateOptions = {}): Promise<EvaluationReport> {
  checkOptionNames(options, ["batchSize", "topLosses", "loss", "tta"], "evaluate()");
  const tta = options.tta ?? "none";
  if (!TTAS.includes(tta)) throw new Error(`evaluate(): tta must be one of ${TTAS.map((t) => `"${t}"`).join(", ")}; got ${String(tta)}.`);
  await ready();
  const ds = toDataset(data, "evaluate()", "data");
  checkFits(model, ds, "evaluate()", { targets: false });
  const batchSize = options.batchSize ?? 256;
  const keep = options.topLosses ?? 16;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`evaluate(): batchSize must be a whole number >= 1; got ${batchSize}.`);
  if (!Number.isInteger(keep) || keep < 0) throw new Error(`evaluate(): topLosses must be a whole number >= 0; got ${keep}.`);
  // The same objective as training: the loss a compiled model or train() would use, its regularisation.
  const objective = await makeObjective(model, ds, { loss: options.loss, metrics: [] }, "evaluate()");
  checkFits(model, ds, "evaluate()", { targets: objective.targets === "values" || isClassification(ds) });
  if (tta !== "none" && (ds.inputShape?.length ?? 0) !== 3) {
    throw new Error(`evaluate(): tta: "${tta}" mirrors images [height, width, channels]; this data's samples have shape [${ds.inputShape?.join(", ") ?? "?"}]. Drop tta for non-image data.`);
  }
  if (tta === "flip-translate" && ((ds.inputShape?.[0] ?? 0) < 2 || (ds.inputShape?.[1] ?? 0) < 2)) {
    throw new Error(`evaluate(): tta: "flip-translate" shifts images by a pixel with reflected edges, which needs at least 2x2 pixels; these are ${ds.inputShape?.slice(0, 2).join("x")}. Use tta: "flip".`);
  }
  const forward = (x: tf.Tensor): tf.Tensor => withTTA(model, x, tta);
  if (objective.multiLabel) {
    throw new Error("evaluate(): this model has several sigmoid outputs (multi-label); evaluate reports single-label classification and regression. Use lepton.predict(model, data) and compare its values with the targets.");
  }
  const n = ds.size;
  const labels = new Int32Array(n);
  const preds = new Int32Array(n);
  const losses = new Float32Array(n);
  const outUnits = model.outputs[0].shape.slice(1).reduce((a: number, d) => a * (d ?? 1), 1);
  const regression = objective.isClassifier ? undefined : { pred: new Float32Array(n * outUnits), target: new Float32Array(n * outUnits) };
  let top: TopLoss[] = [];
  let offset = 0;
  for await (const b of ds.batches({ batchSize, shuffle: false })) {
    const bs = b.x.shape[0];
    if (interruptRequested()) {
      tf.dispose([b.x, b.y]);
      throw new InterruptedError(`evaluate() interrupted after ${offset} of ${n} samples; nothing was computed.`);
    }
    // A loss over NaN inputs can look finite (ReLU turns NaN into 0 on wasm): refuse them, by sample.
    const bad = firstNonFinite(b.x);
    if (bad >= 0) {
      tf.dispose([b.x, b.y]);
      throw new Error(`evaluate(): sample ${offset + bad} of ${ds.name} has NaN or infinite inputs, so no loss or accuracy over it means anything. Find them with ${ds.name}.check() and clean or drop them.`);
    }
    if (regression) {
      const [lossT, outT] = guard(b, () => tf.tidy(() => {
        const out = forward(b.x);
        return [objective.perSample(out, b.y), out];
      }));
      const [lv, ov, yv] = await Promise.all([lossT.data(), outT.data(), b.y.data()]);
      losses.set(lv as Float32Array, offset);
      regression.pred.set(ov as Float32Array, offset * outUnits);
      regression.target.set(yv as Float32Array, offset * outUnits);
      tf.dispose([lossT, outT, b.x, b.y]);
      offset += bs;
      continue;
    }
    const [lossT, predT, probT, labT] = guard(b, () => tf.tidy(() => {
      const raw = forward(b.x);
      const out = objective.logits(raw);
      return [objective.perSample(raw, b.y), out.argMax(-1).toInt(), tf.softmax(out).max(-1), objective.labelsOf(b.y)];
    }));
    const [lv, pv, prv, yv] = await Promise.all([lossT.data(), predT.data(), probT.data(), labT.data()]);
    losses.set(lv as Float32Array, offset);
    preds.set(pv as Int32Array, offset);
    labels.set(yv as Int32Array, offset);
    if (keep > 0) {
      const threshold = top.length >= keep ? top[top.length - 1].loss : -Infinity;
      const candidates: number[] = [];
      for (let i = 0; i < bs; i++) if (lv[i] > threshold) candidates.push(i);
      if (candidates.length) {
        const xv = await b.x.data();
        const d = xv.length / bs;
        for (const i of candidates) {
          top.push({
            index: offset + i, loss: lv[i], label: yv[i], predicted: pv[i], probability: prv[i],
            image: Float32Array.from(xv.subarray(i * d, (i + 1) * d)), shape: b.x.shape.slice(1),
          });
        }
        top = top.sort((a, c) => c.loss - a.loss).slice(0, keep);
      }
    }
    tf.dispose([lossT, predT, probT, labT, b.x, b.y]);
    offset += bs;
  }
  let lossSum = 0;
  for (let i = 0; i < n; i++) lossSum += losses[i];
  // Keras's evaluate: the mean loss plus the regularisation penalties, as val_loss in training.
  const reg = tf.tidy(() => objective.regularization());
  const penalty = reg ? (await reg.data())[0] : 0;
  reg?.dispose();
  const loss = lossSum / Math.max(n, 1) + penalty;
  if (regression) {
    const report = RegressionReport.from(regression.pred, regression.target, outUnits, loss);
    return new EvaluationReport(loss, NaN, n, [], [], [], emptyMetrics(n), emptyMetrics(n), labels, preds, losses, [], report);
  }
  const units = objective.classes;
  const classes = ds.classes ? [...ds.classes] : [];
  while (classes.length < units) classes.push(String(classes.length));
  const m = classificationMetrics(labels, preds, classes.length);
  return new EvaluationReport(loss, m.accuracy, n, classes, m.confusion, m.perClass, m.macro, m.weighted, labels, preds, losses, top);
}

/** The model's outputs on images [n, h, w, c] in inference mode, averaged over the views of `tta`. */
function withTTA(model: tf.LayersModel, x: tf.Tensor, tta: TTA): tf.Tensor {
  const plain = (v: tf.Tensor) => model.apply(v, { training: false }) as tf.Tensor;
  if (tta === "none") return plain(x);
  // The mean over each image and its left-right mirror.
  const flipped = (v: tf.Tensor) => plain(v).add(plain(tf.reverse(v, 2))).div(2);
  if (tta === "flip") return flipped(x);
  const [n, h, w, c] = x.shape;
  const padded = tf.mirrorPad(x as tf.Tensor4D, [[0, 0], [1, 1], [1, 1], [0, 0]], "reflect");
  // Pixel (i, j) of these is pixel (i - 1, j - 1), resp. (i + 1, j + 1), of the image, reflected at the edges.
  const shiftedDownRight = padded.slice([0, 0, 0, 0], [n, h, w, c]);
  const shiftedUpLeft = padded.slice([0, 2, 2, 0], [n, h, w, c]);
  return flipped(x).mul(0.5).add(flipped(shiftedDownRight).add(flipped(shiftedUpLeft)).mul(0.25));
}

/** Index of the first sample of a batch with a non-finite value, or -1 (one read). */
function firstNonFinite(x: tf.Tensor): number {
  const ok = tf.tidy(() => tf.isFinite(x).reshape([x.shape[0], -1]).all(1).toInt());
  const v = ok.dataSync();
  ok.dispose();
  for (let i = 0; i < v.length; i++) if (v[i] !== 1) return i;
  return -1;
}

/** Run `f`; if it throws, dispose the batch first. */
function guard<T>(b: { x: tf.Tensor; y: tf.Tensor }, f: () => T): T {
  try {
    return f();
  } catch (e) {
    tf.dispose([b.x, b.y]);
    throw e;
  }
}

function emptyMetrics(n: number): ClassMetrics {
  return { precision: NaN, recall: NaN, f1: NaN, support: n };
}
