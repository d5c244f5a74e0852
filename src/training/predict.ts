/**
 * predict(model, data): run a model over data in inference mode, batch by batch, and return the
 * outputs as typed arrays: class probabilities and predicted classes for a classifier, output
 * values for a regressor, with the labels or targets when the data has them.
 */
import * as tf from "@tensorflow/tfjs";
import { ready } from "../backend";
import { interruptRequested, InterruptedError } from "../runtime/interrupt";
import { DISPLAY_SYMBOL, type Displayable, type MimeBundle } from "../display/display";
import { escapeHtml, formatFloat32 } from "../util/html";
import { outputKind, type OutputKind, type TaskKind } from "./losses";
import { checkFits, isClassification, isDataset, toDataset, type DataInput } from "./inputs";
import { RegressionReport, regressionMetrics } from "./regression";
import type { Batch } from "../data/types";

export interface PredictOptions {
  /** Samples per batch (default 256). */
  batchSize?: number;
  /**
   * What the model does, for a bare input tensor whose model output is ambiguous (one linear unit
   * is taken as regression, several units or a sigmoid/softmax output as a classifier). With
   * data that has targets the data decides, and a `task` that disagrees is an error.
   */
  task?: TaskKind;
}

/** Rows shown by a Predictions display. */
const HEAD_ROWS = 5;
const HTML_ROWS = 10;
/** Columns (classes or outputs) shown per row before "…". */
const MAX_COLUMNS = 10;

function fmt(v: number): string {
  return formatFloat32(Number(v.toPrecision(4)));
}

/** A classifier's predictions: class probabilities (n × k, row-major) and the arg-max class of each sample. */
export class ClassPredictions implements Displayable {
  readonly task = "classification" as const;

  constructor(
    /** Softmax probabilities, n × k row-major: probabilities[i * k + c] = P(class c | sample i). */
    readonly probabilities: Float32Array,
    /** Predicted class (arg-max probability) of each sample. */
    readonly classes: Int32Array,
    /** Number of classes (2 for a one-unit binary classifier). */
    readonly k: number,
    /** Number of samples. */
    readonly n: number,
    /** True class of each sample, when the data had labels. */
    readonly labels?: Int32Array,
    /** Class names from the dataset. */
    readonly classNames?: string[],
  ) {}

  /** Fraction of samples whose predicted class is the label (NaN without labels). */
  get accuracy(): number {
    if (!this.labels || this.n === 0) return NaN;
    let right = 0;
    for (let i = 0; i < this.n; i++) if (this.classes[i] === this.labels[i]) right++;
    return right / this.n;
  }

  /** Probabilities of sample i (a view, not a copy). */
  row(i: number): Float32Array {
    return this.probabilities.subarray(i * this.k, (i + 1) * this.k);
  }

  /** A new tf tensor [n, k] of the probabilities (the caller disposes it). */
  toTensor(): tf.Tensor2D {
    return tf.tensor2d(this.probabilities, [this.n, this.k], "float32");
  }

  private className(c: number): string {
    return this.classNames?.[c] ?? String(c);
  }

  toString(): string {
    const acc = this.labels ? `, accuracy ${(100 * this.accuracy).toFixed(2)}%` : "";
    const lines = [`Predictions: ${this.n} samples × ${this.k} classes${acc}`];
    const cols = Math.min(this.k, MAX_COLUMNS);
    for (let i = 0; i < Math.min(this.n, HEAD_ROWS); i++) {
      const probs = Array.from(this.row(i).subarray(0, cols), fmt).join(", ") + (this.k > cols ? ", …" : "");
      const label = this.labels ? `  (label ${this.className(this.labels[i])})` : "";
      lines.push(`  ${i}: ${this.className(this.classes[i])}  [${probs}]${label}`);
    }
    if (this.n > HEAD_ROWS) lines.push(`  … ${this.n - HEAD_ROWS} more`);
    return lines.join("\n");
  }

  [DISPLAY_SYMBOL](): MimeBundle {
    const cols = Math.min(this.k, MAX_COLUMNS);
    const th = (s: string) => `<th>${escapeHtml(s)}</th>`;
    const td = (s: string, style = "text-align:right") => `<td style="${style}">${escapeHtml(s)}</td>`;
    let header = th("") + th("predicted") + (this.labels ? th("label") : "");
    for (let c = 0; c < cols; c++) header += th(`P(${this.className(c)})`);
    if (this.k > cols) header += th("…");
    const rows: string[] = [];
    for (let i = 0; i < Math.min(this.n, HTML_ROWS); i++) {
      const wrong = this.labels && this.labels[i] !== this.classes[i];
      let r = td(String(i)) + td(this.className(this.classes[i]), wrong ? "color:#c00" : "") + (this.labels ? td(this.className(this.labels[i]), "") : "");
      const p = this.row(i);
      for (let c = 0; c < cols; c++) r += td(fmt(p[c]), `text-align:right${c === this.classes[i] ? ";font-weight:bold" : ""}`);
      if (this.k > cols) r += td("…");
      rows.push(`<tr>${r}</tr>`);
    }
    const acc = this.labels ? ` &nbsp; <b>accuracy</b> ${(100 * this.accuracy).toFixed(2)}%` : "";
    const more = this.n > HTML_ROWS ? `<div style="color:#888">… ${this.n - HTML_ROWS} more rows</div>` : "";
    const html = `<div><b>Predictions</b>: ${this.n} samples × ${this.k} classes${acc}</div><table><tr>${header}</tr>${rows.join("")}</table>${more}`;
    return { "text/html": html, "text/plain": this.toString() };
  }
}

/** A regressor's predictions: output values, n × outputs row-major, with the targets when the data had them. */
export class RegressionPredictions implements Displayable {
  readonly task = "regression" as const;
  /** Number of samples. */
  readonly n: number;
  /** Values per sample. */
  readonly outputs: number;

  constructor(
    /** Model outputs, sample after sample (shape `shape`). */
    readonly values: Float32Array,
    /** Shape of the outputs: [n, ...outputShape]. */
    readonly shape: number[],
    /** Targets laid out as `values`, when the data had them. */
    readonly targets?: Float32Array,
  ) {
    this.n = shape[0];
    this.outputs = shape.slice(1).reduce((a, b) => a * b, 1);
  }

  /** A new tf tensor of the values, shape `shape` (the caller disposes it). */
  toTensor(): tf.Tensor {
    return tf.tensor(this.values, this.shape, "float32");
  }

  /**
   * MSE, RMSE, MAE and R² against the targets, with the charts (needs data with targets).
   * `loss` defaults to the MSE, the loss lepton trains regressors with.
   */
  report(loss?: number): RegressionReport {
    if (!this.targets) throw new Error("Predictions.report(): these predictions have no targets; predict on data with targets ({ x, y } or a Dataset).");
    return RegressionReport.from(this.values, this.targets, this.outputs, loss ?? regressionMetrics(this.values, this.targets, this.outputs).mse);
  }

  private rowText(a: Float32Array, i: number, cols: number): string {
    return Array.from(a.subarray(i * this.outputs, i * this.outputs + cols), fmt).join(", ") + (this.outputs > cols ? ", …" : "");
  }

  toString(): string {
    const lines = [`Predictions: ${this.n} samples × ${this.outputs} output${this.outputs === 1 ? "" : "s"} (shape [${this.shape.join(", ")}])`];
    const cols = Math.min(this.outputs, MAX_COLUMNS);
    for (let i = 0; i < Math.min(this.n, HEAD_ROWS); i++) {
      const target = this.targets ? `  (target [${this.rowText(this.targets, i, cols)}])` : "";
      lines.push(`  ${i}: [${this.rowText(this.values, i, cols)}]${target}`);
    }
    if (this.n > HEAD_ROWS) lines.push(`  … ${this.n - HEAD_ROWS} more`);
    return lines.join("\n");
  }

  [DISPLAY_SYMBOL](): MimeBundle {
    const cols = Math.min(this.outputs, MAX_COLUMNS);
    const th = (s: string) => `<th>${escapeHtml(s)}</th>`;
    const td = (s: string) => `<td style="text-align:right">${escapeHtml(s)}</td>`;
    const name = (j: number) => (this.outputs === 1 ? "" : ` ${j}`);
    let header = th("");
    for (let j = 0; j < cols; j++) header += th(`predicted${name(j)}`) + (this.targets ? th(`target${name(j)}`) : "");
    if (this.outputs > cols) header += th("…");
    const rows: string[] = [];
    for (let i = 0; i < Math.min(this.n, HTML_ROWS); i++) {
      let r = td(String(i));
      for (let j = 0; j < cols; j++) {
        r += td(fmt(this.values[i * this.outputs + j])) + (this.targets ? td(fmt(this.targets[i * this.outputs + j])) : "");
      }
      if (this.outputs > cols) r += td("…");
      rows.push(`<tr>${r}</tr>`);
    }
    const more = this.n > HTML_ROWS ? `<div style="color:#888">… ${this.n - HTML_ROWS} more rows</div>` : "";
    const html =
      `<div><b>Predictions</b>: ${this.n} samples × ${this.outputs} output${this.outputs === 1 ? "" : "s"}</div>` +
      `<table><tr>${header}</tr>${rows.join("")}</table>${more}`;
    return { "text/html": html, "text/plain": this.toString() };
  }
}

/** What predict returns: check `p.task` ("classification" or "regression") to tell them apart. */
export type Predictions = ClassPredictions | RegressionPredictions;

/** Probabilities [b, k] from a classifier's raw output of the given kind. */
function probabilitiesOf(out: tf.Tensor, kind: OutputKind): tf.Tensor2D {
  return tf.tidy((): tf.Tensor2D => {
    const o = out as tf.Tensor2D;
    switch (kind) {
      case "logits":
        return tf.softmax(o);
      case "probabilities":
        return o;
      case "binaryLogit": {
        const p = tf.sigmoid(o);
        return tf.concat([tf.sub(1, p), p], 1) as tf.Tensor2D;
      }
      case "binaryProbability":
        return tf.concat([tf.sub(1, o), o], 1) as tf.Tensor2D;
    }
  });
}

/** Batches of a bare input tensor (slices along axis 0), shaped like Dataset batches without targets. */
async function* tensorBatches(x: tf.Tensor, batchSize: number): AsyncIterableIterator<{ x: tf.Tensor; y?: tf.Tensor }> {
  const n = x.shape[0];
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    yield { x: tf.tidy(() => { const s = tf.slice(x, start, size); return s.dtype === "float32" ? s : s.toFloat(); }) };
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

function checkModel(model: tf.LayersModel, fn: string): void {
  if (!model || typeof (model as any).apply !== "function" || !Array.isArray((model as any).inputs)) {
    throw new Error(`${fn}: the first argument must be a tf.LayersModel (e.g. lepton.models.lenet()).`);
  }
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new Error(`${fn}: lepton runs models with one input and one output; this model has ${model.inputs.length} and ${model.outputs.length}.`);
  }
}

/** A bare input tensor shaped for the model: [n, ...inputShape] (a 1-D tensor for a model of input [1] becomes [n, 1]). */
function checkTensorInput(model: tf.LayersModel, x: tf.Tensor, fn: string): tf.Tensor {
  const expected = model.inputs[0].shape.slice(1);
  if (x.rank < 1) throw new Error(`${fn}: an input tensor must have a batch axis: shape [samples, ...]; got a scalar.`);
  const got = x.rank === 1 && expected.length === 1 && expected[0] === 1 ? [1] : x.shape.slice(1);
  const ok = expected.length === got.length && expected.every((d, i) => d === null || d === got[i]);
  if (!ok) {
    throw new Error(
      `${fn}: the model expects inputs of shape [samples, ${expected.map((d) => d ?? "any").join(", ")}] but the tensor has shape [${x.shape.join(", ")}]. ` +
        `Reshape the tensor (batch along axis 0) or build the model for this input shape.`,
    );
  }
  return x;
}

/**
 * Run `model` on `data` in inference mode (dropout off, batch-norm running statistics), batch by
 * batch, and return its predictions as typed arrays.
 *
 *   const p = await lepton.predict(model, cifar.test);      // p.probabilities (n × k), p.classes, p.labels
 *   const q = await lepton.predict(model, xTensor);         // a bare input tensor, batched along axis 0
 *   if (q.task === "regression") q.values;
 *
 * `data` is a Dataset, `{ x, y }` tensors, or an input tensor alone. A classifier is recognised
 * from the data (class labels) or, for a bare tensor, from the model's output: a sigmoid or
 * softmax output, or several units. One linear unit is taken as regression unless `task:
 * "classification"` is passed.
 */
export function predict(model: tf.LayersModel, data: DataInput | tf.Tensor, options: PredictOptions & { task: "classification" }): Promise<ClassPredictions>;
export function predict(model: tf.LayersModel, data: DataInput | tf.Tensor, options: PredictOptions & { task: "regression" }): Promise<RegressionPredictions>;
export function predict(model: tf.LayersModel, data: DataInput | tf.Tensor, options?: PredictOptions): Promise<Predictions>;
export async function predict(model: tf.LayersModel, data: DataInput | tf.Tensor, options: PredictOptions = {}): Promise<Predictions> {
  const fn = "predict()";
  await ready();
  const batchSize = options.batchSize ?? 256;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`${fn}: batchSize must be a whole number >= 1; got ${batchSize}.`);
  if (options.task !== undefined && options.task !== "classification" && options.task !== "regression") {
    throw new Error(`${fn}: task must be "classification" or "regression"; got ${JSON.stringify(options.task)}.`);
  }
  checkModel(model, fn);
  const kind = outputKind(model);
  const outShape = model.outputs[0].shape.slice(1);

  let n: number;
  let classification: boolean;
  let hasTargets: boolean;
  let classNames: string[] | undefined;
  let batches: () => AsyncIterableIterator<{ x: tf.Tensor; y?: tf.Tensor }>;
  if (data instanceof tf.Tensor) {
    const x = checkTensorInput(model, data, fn);
    n = x.shape[0];
    hasTargets = false;
    if (options.task) classification = options.task === "classification";
    else classification = kind === "binaryProbability" || kind === "probabilities" || (outShape.length === 1 && (outShape[0] ?? 0) >= 2);
    if (classification && (outShape.length !== 1 || outShape[0] === null)) {
      throw new Error(`${fn}: a classifier must output one score per class, shape [classes]; this model outputs [${outShape.join(", ")}].`);
    }
    batches = () => tensorBatches(x, batchSize);
  } else {
    if (!isDataset(data) && !(data && typeof data === "object" && (data as any).x instanceof tf.Tensor)) {
      throw new Error(`${fn}: data must be a lepton Dataset, { x: tf.Tensor, y: tf.Tensor }, or an input tf.Tensor.`);
    }
    const ds = toDataset(data, fn, "data");
    checkFits(model, ds, fn);
    n = ds.size;
    hasTargets = true;
    classification = isClassification(ds);
    if (options.task && options.task !== (classification ? "classification" : "regression")) {
      throw new Error(
        `${fn}: task "${options.task}" was passed but ${ds.name} has ${classification ? "class labels" : "regression targets"}; ` +
          `the data decides (drop the task option, or pass the input tensor alone).`,
      );
    }
    classNames = ds.classes ? [...ds.classes] : undefined;
    batches = () => ds.batches({ batchSize, shuffle: false }) as AsyncIterableIterator<Batch>;
  }

  const binary = kind === "binaryLogit" || kind === "binaryProbability";
  const k = classification ? (binary ? 2 : (outShape[0] as number)) : 0;
  // Values per sample; for a regressor with a free output dimension, known from the first batch.
  const known = outShape.every((d) => d !== null);
  let outputs = classification ? k : known ? outShape.reduce((a: number, d) => a * (d as number), 1) : 0;
  let values = new Float32Array(n * outputs);
  const classes = classification ? new Int32Array(n) : undefined;
  const labels = classification && hasTargets ? new Int32Array(n) : undefined;
  let targets = !classification && hasTargets ? new Float32Array(n * outputs) : undefined;
  let outDims: number[] | undefined = known ? (outShape as number[]) : undefined;
  let offset = 0;

  for await (const b of batches()) {
    try {
      const bs = b.x.shape[0];
      if (interruptRequested()) {
        throw new InterruptedError(`predict() interrupted after ${offset} of ${n} samples; no predictions were returned.`);
      }
      if (offset + bs > n) throw new Error(`${fn}: the data yielded more samples than its size (${n}).`);
      if (classification) {
        const [probT, classT] = tf.tidy(() => {
          const p = probabilitiesOf(model.apply(b.x, { training: false }) as tf.Tensor, kind);
          return [p, p.argMax(-1).toInt()];
        });
        try {
          const [pv, cv] = await Promise.all([probT.data(), classT.data()]);
          values.set(pv as Float32Array, offset * k);
          classes!.set(cv as Int32Array, offset);
        } finally {
          tf.dispose([probT, classT]);
        }
        if (labels && b.y) labels.set(Int32Array.from(await b.y.data()), offset);
      } else {
        const out = tf.tidy(() => model.apply(b.x, { training: false }) as tf.Tensor);
        try {
          if (outDims && out.shape.slice(1).join() !== outDims.join()) {
            throw new Error(`${fn}: the model output [${out.shape.join(", ")}] for a batch, but [samples, ${outDims.join(", ")}] before; every sample must give the same output shape.`);
          }
          if (!outDims) {
            outDims = out.shape.slice(1);
            outputs = outDims.reduce((a, d) => a * d, 1);
            values = new Float32Array(n * outputs);
            if (targets) targets = new Float32Array(n * outputs);
          }
          values.set((await out.data()) as Float32Array, offset * outputs);
        } finally {
          out.dispose();
        }
        if (targets && b.y) targets.set((await b.y.data()) as Float32Array, offset * outputs);
      }
      offset += bs;
    } finally {
      tf.dispose(b.y ? [b.x, b.y] : [b.x]);
    }
  }
  if (offset !== n) throw new Error(`${fn}: the data yielded ${offset} samples but reports a size of ${n}.`);

  if (classification) return new ClassPredictions(values, classes!, k, n, labels, classNames);
  const shape = [n, ...(outDims ?? outShape.map((d) => d ?? 0))];
  return new RegressionPredictions(values, shape, targets);
}
