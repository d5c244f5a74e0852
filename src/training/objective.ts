/**
 * The objective: what training minimises and what it reports, shared by train(), validation,
 * evaluate() and lrFind(), so that they can never disagree.
 *
 *   loss      a name ("sparseCategoricalCrossentropy", "categoricalCrossentropy", "binaryCrossentropy",
 *             "meanSquaredError", "meanAbsoluteError", "huber"; Keras's snake_case names too) or a
 *             function (yTrue, yPred) => tf.Tensor (a scalar, or one value per sample: averaged)
 *   + the model's regularisation penalties (layer kernelRegularizer etc., Keras's `model.losses`)
 *   + label smoothing (training only, built-in cross-entropies only)
 *   metrics   names ("accuracy", "mse", "rmse", "mae") or functions (yTrue, yPred) => tf.Tensor,
 *             recorded under the function's name; summed on the device and read back in batches.
 *
 * What the targets mean is read from the data and the model when no loss is named: int32 class
 * indices train a classifier with sparse cross-entropy; float one-hot rows (Keras's to_categorical)
 * with a classifier-sized output train with categorical cross-entropy; 0/1 targets with one sigmoid
 * output train with binary cross-entropy; anything else is regression with mean squared error.
 */
import * as tf from "@tensorflow/tfjs";
import type { Dataset } from "../data/types";
import { classLogits, outputKind, type OutputKind } from "./losses";
import { isClassification } from "./inputs";
import { nearestName } from "../util/options";

export type LossName =
  | "sparseCategoricalCrossentropy"
  | "categoricalCrossentropy"
  | "binaryCrossentropy"
  | "meanSquaredError"
  | "meanAbsoluteError"
  | "huber";
/** A loss function in Keras's order: targets first, model outputs second. */
export type LossFunction = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;
export type LossSpec = LossName | string | LossFunction;
export type MetricName = "accuracy" | "mse" | "rmse" | "mae";
export type MetricSpec = MetricName | string | LossFunction;

/** How targets are read: class indices, class distributions (one-hot), 0/1 for one output, or values. */
export type TargetKind = "sparse" | "categorical" | "binary" | "values";

const LOSS_ALIASES: Record<string, LossName> = {
  sparsecategoricalcrossentropy: "sparseCategoricalCrossentropy",
  categoricalcrossentropy: "categoricalCrossentropy",
  binarycrossentropy: "binaryCrossentropy",
  meansquarederror: "meanSquaredError",
  mse: "meanSquaredError",
  meanabsoluteerror: "meanAbsoluteError",
  mae: "meanAbsoluteError",
  huber: "huber",
  huberloss: "huber",
};
const LOSS_NAMES: LossName[] = ["sparseCategoricalCrossentropy", "categoricalCrossentropy", "binaryCrossentropy", "meanSquaredError", "meanAbsoluteError", "huber"];

const METRIC_ALIASES: Record<string, MetricName> = {
  accuracy: "accuracy",
  acc: "accuracy",
  categoricalaccuracy: "accuracy",
  sparsecategoricalaccuracy: "accuracy",
  binaryaccuracy: "accuracy",
  mse: "mse",
  meansquarederror: "mse",
  rmse: "rmse",
  rootmeansquarederror: "rmse",
  mae: "mae",
  meanabsoluteerror: "mae",
};
const METRIC_NAMES: MetricName[] = ["accuracy", "mse", "rmse", "mae"];

const squash = (s: string) => s.replace(/[_\s-]/g, "").toLowerCase();

function lossName(spec: string, who: string): LossName {
  const name = LOSS_ALIASES[squash(spec)];
  if (name) return name;
  const near = nearestName(spec, LOSS_NAMES);
  throw new Error(`${who}: unknown loss "${spec}"${near ? `; did you mean "${near}"?` : "."} Use one of ${LOSS_NAMES.map((n) => `"${n}"`).join(", ")}, or a function (yTrue, yPred) => tf.Scalar.`);
}

/** One metric: a per-batch sum kept on the device, turned into the epoch's value once read. */
export interface Metric {
  name: string;
  /** Sum over the batch's samples (a scalar tensor, not read back). */
  batchSum(out: tf.Tensor, y: tf.Tensor): tf.Scalar;
  /** The epoch's value from the summed values and the number of samples. */
  finish(sum: number, n: number): number;
}

export interface ObjectiveOptions {
  loss?: LossSpec;
  metrics?: MetricSpec[];
  labelSmoothing?: number;
}

/** Per-sample mean of a tensor over every axis but the first: shape [b]. */
function perSampleMean(t: tf.Tensor): tf.Tensor1D {
  return (t.rank <= 1 ? t.reshape([-1]) : t.reshape([t.shape[0], -1]).mean(1)) as tf.Tensor1D;
}

/** A user function's result as the sum over the batch: a scalar is the batch mean (Keras's reduction). */
function userSum(v: tf.Tensor, b: number, what: string): tf.Scalar {
  if (!(v instanceof tf.Tensor)) throw new Error(`${what} must return a tf.Tensor (a scalar, or one value per sample); it returned ${typeof v}.`);
  if (v.rank === 0) return v.mul(b) as tf.Scalar;
  if (v.shape[0] !== b) throw new Error(`${what} returned shape [${v.shape.join(", ")}]; return a scalar or one value per sample (first axis ${b}).`);
  return perSampleMean(v).sum() as tf.Scalar;
}

export class Objective {
  readonly lossLabel: string;
  readonly metrics: Metric[];
  private readonly custom?: LossFunction;
  /** Notes to show the user about how the data was read (one-hot detected, and so on). */
  readonly notes: string[] = [];

  constructor(
    readonly model: tf.LayersModel,
    readonly targets: TargetKind,
    readonly kind: OutputKind,
    /** Number of classes (2 for one-output binary classifiers); 0 for regression. */
    readonly classes: number,
    readonly loss: LossName | "custom",
    custom: LossFunction | undefined,
    metrics: MetricSpec[],
    readonly labelSmoothing: number,
    who: string,
  ) {
    this.custom = custom;
    this.lossLabel = loss === "custom" ? custom!.name || "custom loss" : loss;
    if (labelSmoothing > 0 && (!this.isClassifier || loss === "custom" || this.multiLabel)) {
      throw new Error(`${who}: labelSmoothing applies to lepton's single-label cross-entropy losses; this run trains ${this.lossLabel}${this.multiLabel ? " on several sigmoid outputs" : ""}, which would ignore it. Remove labelSmoothing${loss === "custom" ? " (or smooth the targets in your loss function)" : ""}.`);
    }
    this.metrics = metrics.map((m) => this.metric(m, who));
    const names = new Set<string>();
    for (const m of this.metrics) {
      if (m.name === "loss" || names.has(m.name)) throw new Error(`${who}: two metrics are called "${m.name}"; give each function its own name.`);
      names.add(m.name);
    }
  }

  get isClassifier(): boolean {
    return this.targets !== "values";
  }

  /** Several independent sigmoid outputs trained with binary cross-entropy (multi-label). */
  get multiLabel(): boolean {
    return this.loss === "binaryCrossentropy" && this.kind !== "binaryLogit" && this.kind !== "binaryProbability";
  }

  /** Class logits [b, k] of a classifier's raw output. */
  logits(out: tf.Tensor): tf.Tensor2D {
    return classLogits(out, this.kind);
  }

  /** Integer class of each target [b] (classifiers). */
  labelsOf(y: tf.Tensor): tf.Tensor1D {
    return tf.tidy(() => {
      if (this.targets === "categorical") return y.argMax(-1).toInt() as tf.Tensor1D;
      if (this.targets === "binary") return y.reshape([-1]).greater(0.5).toInt() as tf.Tensor1D;
      return y.reshape([-1]).toInt() as tf.Tensor1D;
    });
  }

  /** The target distribution [b, k] of a classifier batch, with label smoothing eps. */
  private targetDistribution(y: tf.Tensor, k: number, eps: number): tf.Tensor2D {
    let t: tf.Tensor2D;
    if (this.targets === "categorical") t = y.toFloat() as tf.Tensor2D;
    else if (this.targets === "binary") {
      const p = y.reshape([-1, 1]).toFloat();
      t = tf.concat([tf.sub(1, p), p], 1) as tf.Tensor2D;
    } else t = tf.oneHot(y.reshape([-1]).toInt() as tf.Tensor1D, k).toFloat() as tf.Tensor2D;
    return eps > 0 ? (t.mul(1 - eps).add(eps / k) as tf.Tensor2D) : t;
  }

  /** Loss of every sample [b], without regularisation; label smoothing only when asked. */
  perSample(out: tf.Tensor, y: tf.Tensor, smoothing = 0): tf.Tensor1D {
    return tf.tidy(() => {
      const b = out.shape[0];
      switch (this.loss) {
        case "custom": {
          const v = this.custom!(y, out);
          if (v.rank === 0) return tf.zeros([b]).add(v) as tf.Tensor1D;
          return perSampleMean(v);
        }
        case "sparseCategoricalCrossentropy":
        case "categoricalCrossentropy":
        case "binaryCrossentropy": {
          if (this.loss === "binaryCrossentropy" && this.kind !== "binaryLogit" && this.kind !== "binaryProbability") {
            // Several independent sigmoid outputs (multi-label): element-wise binary cross-entropy.
            const t = y.toFloat().reshape(out.shape);
            const p = tf.clipByValue(out, 1e-7, 1 - 1e-7);
            const e = t.mul(tf.log(p)).add(tf.sub(1, t).mul(tf.log(tf.sub(1, p)))).neg();
            return perSampleMean(e);
          }
          const logits = this.logits(out);
          const k = logits.shape[1];
          const target = this.targetDistribution(y, k, smoothing);
          return target.mul(tf.logSoftmax(logits)).sum(-1).neg() as tf.Tensor1D;
        }
        case "meanSquaredError":
          return perSampleMean(out.sub(y.toFloat().reshape(out.shape)).square());
        case "meanAbsoluteError":
          return perSampleMean(out.sub(y.toFloat().reshape(out.shape)).abs());
        case "huber": {
          const e = out.sub(y.toFloat().reshape(out.shape)).abs();
          const quad = tf.minimum(e, 1);
          return perSampleMean(quad.square().mul(0.5).add(e.sub(quad)));
        }
      }
    });
  }

  /** The model's regularisation penalties (kernelRegularizer and the like), summed; 0 when it has none. */
  regularization(): tf.Scalar | undefined {
    const fn = (this.model as any).calculateLosses;
    if (typeof fn !== "function") return undefined;
    const losses = fn.call(this.model) as tf.Tensor[];
    if (!losses.length) return undefined;
    return tf.addN(losses.map((l) => l.sum() as tf.Scalar)) as tf.Scalar;
  }

  /**
   * The scalar a step minimises: the batch mean of the loss (with label smoothing in training)
   * plus the regularisation penalties. Validation uses it without smoothing.
   */
  batchLoss(out: tf.Tensor, y: tf.Tensor, training: boolean): tf.Scalar {
    return tf.tidy(() => {
      const data = this.perSample(out, y, training ? this.labelSmoothing : 0).mean() as tf.Scalar;
      const reg = this.regularization();
      return reg ? (data.add(reg) as tf.Scalar) : data;
    });
  }

  private metric(spec: MetricSpec, who: string): Metric {
    if (typeof spec === "function") {
      const name = spec.name || "metric";
      return {
        name,
        batchSum: (out, y) => tf.tidy(() => userSum(spec(y, out), out.shape[0], `metric ${name}`)),
        finish: (s, n) => s / Math.max(n, 1),
      };
    }
    if (typeof spec !== "string") throw new Error(`${who}: a metric is a name ("accuracy", "mae", ...) or a function (yTrue, yPred) => tf.Tensor; got ${typeof spec}.`);
    const name = METRIC_ALIASES[squash(spec)];
    if (!name) {
      const near = nearestName(spec, METRIC_NAMES);
      throw new Error(`${who}: unknown metric "${spec}"${near ? `; did you mean "${near}"?` : "."} Use ${METRIC_NAMES.map((n) => `"${n}"`).join(", ")}, or a function (yTrue, yPred) => tf.Tensor.`);
    }
    const mean = (s: number, n: number) => s / Math.max(n, 1);
    switch (name) {
      case "accuracy":
        if (!this.isClassifier) throw new Error(`${who}: "accuracy" needs class targets; this run is a regression (${this.lossLabel}). Use "mae" or "mse".`);
        return {
          name,
          batchSum: (out, y) =>
            tf.tidy(() => {
              if (this.loss === "binaryCrossentropy" && this.kind !== "binaryLogit" && this.kind !== "binaryProbability") {
                const hit = out.greater(0.5).equal(y.reshape(out.shape).greater(0.5)).toFloat();
                return perSampleMean(hit).sum() as tf.Scalar;
              }
              return tf.equal(this.logits(out).argMax(-1), this.labelsOf(y)).toFloat().sum() as tf.Scalar;
            }),
          finish: mean,
        };
      case "mse":
      case "rmse":
        return {
          name,
          batchSum: (out, y) => tf.tidy(() => perSampleMean(out.sub(y.toFloat().reshape(out.shape)).square()).sum() as tf.Scalar),
          finish: name === "mse" ? mean : (s, n) => Math.sqrt(mean(s, n)),
        };
      case "mae":
        return { name, batchSum: (out, y) => tf.tidy(() => perSampleMean(out.sub(y.toFloat().reshape(out.shape)).abs()).sum() as tf.Scalar), finish: mean };
    }
  }

  /** The names recorded per epoch, in order: loss, then the metrics. */
  get names(): string[] {
    return ["loss", ...this.metrics.map((m) => m.name)];
  }

  /** The lowest training loss label smoothing allows (the entropy of the smoothed target); 0 without smoothing. */
  smoothingFloor(): number {
    const eps = this.labelSmoothing;
    const k = this.classes;
    if (!(eps > 0) || k < 2) return 0;
    const hi = 1 - eps + eps / k;
    const lo = eps / k;
    return -hi * Math.log(hi) - (k - 1) * lo * Math.log(lo);
  }
}

/** Up to `limit` targets of a dataset, read from its first batch (to tell one-hot from values). */
async function peekTargets(ds: Dataset, limit: number): Promise<{ values: Float32Array; shape: number[] } | undefined> {
  if (ds.size === 0) return undefined;
  const it = ds.batches({ batchSize: Math.min(limit, ds.size), shuffle: false });
  const first = await it.next();
  await it.return?.(undefined);
  if (first.done) return undefined;
  const { x, y } = first.value;
  const values = Float32Array.from(await y.data());
  const shape = y.shape.slice();
  tf.dispose([x, y]);
  return { values, shape };
}

/** A compiled model's settings (tfjs model.compile): loss, metrics, optimizer. */
export function compiledSettings(model: tf.LayersModel): { loss?: LossSpec; metrics?: MetricSpec[]; optimizer?: tf.Optimizer } {
  const m = model as any;
  const out: { loss?: LossSpec; metrics?: MetricSpec[]; optimizer?: tf.Optimizer } = {};
  const loss = Array.isArray(m.loss) ? m.loss[0] : m.loss && typeof m.loss === "object" && !("call" in m.loss) ? Object.values(m.loss)[0] : m.loss;
  if (typeof loss === "string" || typeof loss === "function") out.loss = loss as LossSpec;
  const metrics = m.metrics;
  if (typeof metrics === "string" || typeof metrics === "function") out.metrics = [metrics];
  else if (Array.isArray(metrics)) out.metrics = metrics.filter((x: unknown) => typeof x === "string" || typeof x === "function");
  else if (metrics && typeof metrics === "object") {
    const first = Object.values(metrics)[0];
    out.metrics = Array.isArray(first) ? first : first ? [first as MetricSpec] : [];
  }
  if (m.optimizer_ || (m.isOptimizerOwned !== undefined && m.optimizer)) out.optimizer = m.optimizer_ ?? m.optimizer;
  return out;
}

/**
 * Work out the objective for `model` on `ds`: the loss asked for (or the compiled model's, or the
 * one the targets call for), the metrics (default: accuracy for classifiers, none for regression).
 */
export async function makeObjective(model: tf.LayersModel, ds: Dataset, options: ObjectiveOptions, who: string): Promise<Objective> {
  const compiled = compiledSettings(model);
  const lossSpec = options.loss ?? compiled.loss;
  const kind = outputKind(model);
  const outShape = model.outputs[0].shape.slice(1);
  const units = (outShape[outShape.length - 1] ?? 1) as number;
  const eps = options.labelSmoothing ?? 0;
  const binaryOut = kind === "binaryLogit" || kind === "binaryProbability";

  let loss: LossName | "custom";
  let custom: LossFunction | undefined;
  if (typeof lossSpec === "function") {
    loss = "custom";
    custom = lossSpec;
  } else if (typeof lossSpec === "string") loss = lossName(lossSpec, who);
  else if (lossSpec !== undefined) throw new Error(`${who}: loss must be a name such as "categoricalCrossentropy" or a function (yTrue, yPred) => tf.Scalar; got ${typeof lossSpec}.`);
  else loss = "meanSquaredError"; // decided below from the targets

  let targets: TargetKind;
  const notes: string[] = [];
  if (isClassification(ds)) {
    targets = "sparse";
    if (lossSpec === undefined) loss = "sparseCategoricalCrossentropy";
    if (loss === "categoricalCrossentropy") {
      throw new Error(`${who}: loss "categoricalCrossentropy" expects one-hot targets, but ${ds.name} has integer class labels. Use "sparseCategoricalCrossentropy" (or leave loss out).`);
    }
    if (loss === "meanSquaredError" || loss === "meanAbsoluteError" || loss === "huber") targets = "values";
  } else {
    const t = ds.targetShape;
    const peek = await peekTargets(ds, 512);
    const vals = peek?.values ?? new Float32Array(0);
    const whole = vals.length > 0 && vals.every((v) => Number.isInteger(v) && v >= 0);
    const zeroOne = vals.length > 0 && vals.every((v) => v === 0 || v === 1);
    const k = t[t.length - 1];
    let rowsAreDistributions = false;
    if (t.length === 1 && k >= 2 && vals.length > 0) {
      rowsAreDistributions = true;
      for (let r = 0; r + k <= vals.length && rowsAreDistributions; r += k) {
        let s = 0;
        for (let j = 0; j < k; j++) {
          const v = vals[r + j];
          if (!(v >= 0 && v <= 1)) rowsAreDistributions = false;
          s += v;
        }
        if (Math.abs(s - 1) > 1e-3) rowsAreDistributions = false;
      }
    }
    if (lossSpec === undefined) {
      if (rowsAreDistributions && k === units && !binaryOut) {
        loss = "categoricalCrossentropy";
        notes.push(`The targets are one-hot rows of ${k} classes: training with categorical cross-entropy and accuracy (pass loss: "meanSquaredError" to train a regression instead).`);
      } else if (t.length === 1 && k === 1 && units === 1 && kind === "binaryProbability" && zeroOne) {
        loss = "binaryCrossentropy";
        notes.push(`The targets are 0/1 and the model ends in one sigmoid: training with binary cross-entropy and accuracy (pass loss: "meanSquaredError" to train a regression instead).`);
      } else if (t.length === 1 && k === 1 && units >= 2 && whole) {
        throw new Error(
          `${who}: ${ds.name} has one float target per sample that are whole numbers (class indices?), but the model outputs ${units} values. ` +
            `For classification pass the labels as int32 class indices (tf.tensor1d(labels, "int32")) or one-hot rows of ${units}, or pass loss: "sparseCategoricalCrossentropy". ` +
            `For regression the model's last layer needs 1 unit.`,
        );
      } else loss = "meanSquaredError";
    }
    if (loss === "sparseCategoricalCrossentropy") {
      if (!(t.length === 1 && k === 1 && whole)) {
        throw new Error(`${who}: loss "sparseCategoricalCrossentropy" needs one whole-number class index per sample; ${ds.name} has targets of shape [${t.join(", ")}]${whole ? "" : " that are not whole numbers ≥ 0"}.`);
      }
      const classesOut = binaryOut ? 2 : units;
      const top = vals.reduce((a, v) => Math.max(a, v), 0);
      if (top >= classesOut) {
        throw new Error(`${who}: ${ds.name} has class index ${top} but the model outputs ${classesOut} classes (0..${classesOut - 1}); make the last layer output one logit per class.`);
      }
      targets = "sparse";
    } else if (loss === "categoricalCrossentropy") {
      if (!(t.length === 1 && k === units && k >= 2)) {
        throw new Error(`${who}: loss "categoricalCrossentropy" needs one-hot targets of shape [${units}] (one value per class); ${ds.name} has [${t.join(", ")}].`);
      }
      targets = "categorical";
    } else if (loss === "binaryCrossentropy") {
      if (!(t.length === 1 && k === units)) throw new Error(`${who}: loss "binaryCrossentropy" needs targets shaped like the output [${units}]; ${ds.name} has [${t.join(", ")}].`);
      targets = "binary";
    } else targets = "values";
  }
  const classes = targets === "values" ? 0 : binaryOut ? 2 : units;
  const defaultMetrics: MetricSpec[] = targets === "values" ? [] : ["accuracy"];
  const metrics = options.metrics ?? compiled.metrics ?? defaultMetrics;
  if (!Array.isArray(metrics)) throw new Error(`${who}: metrics must be a list, e.g. metrics: ["accuracy"] or [myMetric].`);
  const obj = new Objective(model, targets, kind, classes, loss, custom, metrics, eps, who);
  obj.notes.push(...notes);
  return obj;
}
