/**
 * lrFind: the learning-rate range test (Leslie Smith; fastai's lr_find). Train for a short while
 * with the LR growing exponentially, record the smoothed loss, suggest an LR, then put the model's
 * weights and the optimizer's state back as they were.
 */
import * as tf from "@tensorflow/tfjs";
import { ready } from "../backend";
import { DISPLAY_SYMBOL, toMimeBundle, type Displayable, type MimeBundle } from "../display/display";
import { line } from "../display/plot/charts";
import type { Figure } from "../display/plot/figure";
import { makeOptimizer, Optimizer, type NamedTensor, type OptimizerName, type OptimizerSpec } from "./optimizers";
import { checkFits, isClassification, toDataset, type DataInput } from "./inputs";
import { makeObjective, type LossSpec } from "./objective";
import { runEngine, type Callback } from "./engine";
import { History } from "./history";
import { checkNumber, checkOptionNames } from "../util/options";

export interface LrFindOptions {
  /** Smallest LR tried (default 1e-7). */
  startLr?: number;
  /** Largest LR tried (default 10). */
  endLr?: number;
  /** Number of steps (default 100). */
  numIter?: number;
  batchSize?: number;
  /** Optimizer to test (default SGD with momentum 0.9). A lepton Optimizer's state is restored afterwards. */
  optimizer?: OptimizerSpec | OptimizerName | Optimizer;
  /** Stop once the smoothed loss exceeds this multiple of the best (default 4). */
  divergeFactor?: number;
  seed?: number;
  /** As in train(): the sweep trains with the same objective and step. */
  loss?: LossSpec;
  labelSmoothing?: number;
  clipNorm?: number;
}

const LR_FIND_OPTIONS = ["startLr", "endLr", "numIter", "batchSize", "optimizer", "divergeFactor", "seed", "loss", "labelSmoothing", "clipNorm"];

export interface LrSuggestion {
  /** fastai's "valley": about halfway down the longest descending stretch of the curve. */
  valley: number;
  /** Where the smoothed loss falls fastest (least-squares slope vs log LR over a window), leaving out the first tenth of the steps and the last five, among the points where the loss is below everything in that first tenth. */
  steepest: number;
  /** The LR with the lowest smoothed loss, divided by 10. */
  minimumDiv10: number;
}

export class LrFindResult implements Displayable {
  constructor(
    /** LR of each step. */
    readonly lrs: number[],
    /** Smoothed (debiased EMA) loss of each step. */
    readonly losses: number[],
    readonly suggestion: LrSuggestion,
  ) {}

  /** The suggested LR (the valley). */
  get suggested(): number {
    return this.suggestion.valley;
  }

  plot(): Figure {
    const s = this.suggestion;
    const at = (lr: number) => this.losses[nearest(this.lrs, lr)];
    return line(
      [
        { x: this.lrs, y: this.losses, name: "smoothed loss" },
        { x: [s.valley], y: [at(s.valley)], name: `valley ${s.valley.toExponential(1)}`, mode: "markers" },
        { x: [s.steepest], y: [at(s.steepest)], name: `steepest ${s.steepest.toExponential(1)}`, mode: "markers" },
      ] as any,
      { title: "Learning-rate finder", xaxis: { title: "learning rate", type: "log" }, yaxis: { title: "loss" } },
    );
  }

  toString(): string {
    const s = this.suggestion;
    return `lrFind: ${this.lrs.length} steps from ${this.lrs[0]?.toExponential(1)} to ${this.lrs[this.lrs.length - 1]?.toExponential(1)}. ` +
      `Suggested LR ${s.valley.toExponential(2)} (valley); steepest ${s.steepest.toExponential(2)}; minimum/10 ${s.minimumDiv10.toExponential(2)}.`;
  }

  [DISPLAY_SYMBOL](): MimeBundle {
    return { ...toMimeBundle(this.plot()), "text/plain": this.toString() };
  }
}

function nearest(xs: number[], v: number): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (Math.abs(Math.log(xs[i] / v)) < Math.abs(Math.log(xs[best] / v))) best = i;
  return best;
}

/** Suggested LRs from a loss-vs-LR curve (exported for tests). */
export function suggestLr(lrs: number[], losses: number[]): LrSuggestion {
  const n = losses.length;
  if (n < 3) throw new Error(`lrFind: only ${n} steps were recorded; use more data or a larger numIter.`);
  // Valley: the longest strictly decreasing subsequence; pick a point 2/3 down it.
  const lds = new Array(n).fill(1);
  let maxEnd = 0;
  for (let i = 1; i < n; i++) {
    for (let j = 0; j < i; j++) if (losses[i] < losses[j] && lds[i] < lds[j] + 1) lds[i] = lds[j] + 1;
    if (lds[i] > lds[maxEnd]) maxEnd = i;
  }
  const maxStart = maxEnd - lds[maxEnd] + 1;
  const sections = (maxEnd - maxStart) / 3;
  const valleyIdx = Math.min(n - 1, maxStart + Math.floor(sections) + Math.floor(sections / 2));
  // Steepest: most negative d(loss)/d(log lr). As fastai's, leave out the first tenth of the steps (the
  // EMA is warming up and at tiny LRs the weights do not move: slopes there are batch-to-batch noise) and
  // the last five (divergence). Further, only points where the loss has fallen below everything seen in
  // that first tenth count (learning has begun), and the slope is a least-squares fit over a window of
  // steps, not a difference of two noisy points.
  const lo = Math.max(2, Math.floor(n / 10));
  const hi = Math.max(lo + 1, n - 5);
  let startMin = Infinity;
  for (let i = 0; i < lo && i < n; i++) startMin = Math.min(startMin, losses[i]);
  const half = Math.max(2, Math.round(n / 10));
  const slope = (i: number): number => {
    const a = Math.max(0, i - half);
    const b = Math.min(n - 1, i + half);
    let sx = 0, sy = 0, sxx = 0, sxy = 0;
    const m = b - a + 1;
    for (let j = a; j <= b; j++) {
      const x = Math.log(lrs[j]);
      sx += x;
      sy += losses[j];
      sxx += x * x;
      sxy += x * losses[j];
    }
    const den = m * sxx - sx * sx;
    return den > 0 ? (m * sxy - sx * sy) / den : 0;
  };
  const pick = (requireBelowStart: boolean): number | undefined => {
    let idx: number | undefined;
    let best = Infinity;
    for (let i = lo; i < Math.min(hi, n); i++) {
      if (requireBelowStart && !(losses[i] < startMin)) continue;
      const g = slope(i);
      if (g < best) {
        best = g;
        idx = i;
      }
    }
    return idx;
  };
  const steepIdx = pick(true) ?? pick(false) ?? Math.min(n - 1, lo);
  let minIdx = 0;
  for (let i = 1; i < n; i++) if (losses[i] < losses[minIdx]) minIdx = i;
  return { valley: lrs[valleyIdx], steepest: lrs[steepIdx], minimumDiv10: lrs[minIdx] / 10 };
}

/**
 * Sweep the LR exponentially and suggest one. The model's weights (and a passed lepton Optimizer's
 * state) are exactly as before when it returns.
 *
 *   const r = await lepton.lrFind(model, cifar.train);   // shows the curve; r.suggested is the LR
 */
export async function lrFind(model: tf.LayersModel, data: DataInput, options: LrFindOptions = {}): Promise<LrFindResult> {
  const fn = "lrFind()";
  checkOptionNames(options, LR_FIND_OPTIONS, fn);
  await ready();
  const ds = toDataset(data, fn, "data");
  checkFits(model, ds, fn, { targets: false });
  const startLr = options.startLr ?? 1e-7;
  const endLr = options.endLr ?? 10;
  const numIter = options.numIter ?? 100;
  const batchSize = options.batchSize ?? 32;
  const diverge = options.divergeFactor ?? 4;
  if (!(startLr > 0 && endLr > startLr && Number.isFinite(endLr))) throw new Error(`${fn}: need 0 < startLr < endLr; got ${startLr} and ${endLr}.`);
  if (!Number.isInteger(numIter) || numIter < 3) throw new Error(`${fn}: numIter must be a whole number >= 3; got ${numIter}.`);
  checkNumber(batchSize, "batchSize", (v) => Number.isInteger(v) && v >= 1, "a whole number >= 1", fn);
  checkNumber(diverge, "divergeFactor", (v) => v > 1, "a number > 1", fn);
  checkNumber(options.clipNorm, "clipNorm", (v) => Number.isFinite(v) && v > 0, "a positive number", fn);
  checkNumber(options.labelSmoothing, "labelSmoothing", (v) => v >= 0 && v < 1, "in [0, 1)", fn);
  checkNumber(options.seed, "seed", (v) => Number.isInteger(v), "a whole number", fn);
  const objective = await makeObjective(model, ds, { loss: options.loss, labelSmoothing: options.labelSmoothing, metrics: [] }, fn);
  checkFits(model, ds, fn, { targets: objective.targets === "values" || isClassification(ds) });

  // A lepton Optimizer's state is saved and put back; a tf.train optimizer of the user's is never
  // touched: the sweep runs on a fresh copy of its settings.
  let optimizer = makeOptimizer(options.optimizer ?? { type: "sgd", momentum: 0.9 });
  if (optimizer.isBorrowed) optimizer = optimizer.copySpec();
  const external = optimizer === options.optimizer;
  const savedLr = optimizer.lr;
  const savedOpt: NamedTensor[] = external ? await optimizer.getWeights() : [];
  const savedWeights = model.getWeights().map((w) => w.clone());

  const lrs: number[] = [];
  const losses: number[] = [];
  let avg = 0;
  let best = Infinity;
  let i = 0;
  // The sweep as a callback on the training engine: it sets each batch's LR and stops the run.
  const sweep: Callback = {
    batchLogs: "every",
    onBatchBegin(_b, ctx) {
      ctx.lr = startLr * Math.pow(endLr / startLr, i / (numIter - 1));
    },
    onBatchEnd(_b, logs, ctx) {
      i++;
      if (!Number.isFinite(logs.loss)) return ctx.stop("the loss diverged");
      avg = 0.98 * avg + 0.02 * logs.loss;
      const smoothed = avg / (1 - Math.pow(0.98, i));
      lrs.push(logs.lr);
      losses.push(smoothed);
      if (smoothed < best) best = smoothed;
      if (i > 10 && smoothed > diverge * best) ctx.stop("the loss diverged");
      else if (i >= numIter) ctx.stop("done");
    },
  };
  try {
    const stepsPerEpoch = Math.ceil(ds.size / batchSize);
    await runEngine({
      model,
      data: ds,
      objective,
      optimizer,
      history: new History(),
      epochs: Math.ceil(numIter / stepsPerEpoch),
      initialEpoch: 0,
      batchSize,
      shuffle: true,
      seed: options.seed ?? Math.floor(Math.random() * 2 ** 31),
      callbacks: [sweep],
      clipNorm: options.clipNorm,
      baseLr: startLr,
    });
  } finally {
    model.setWeights(savedWeights);
    tf.dispose(savedWeights);
    if (external) {
      await optimizer.setWeights(savedOpt);
      tf.dispose(savedOpt.map((t) => t.tensor));
      optimizer.setStepLr(savedLr);
    } else {
      optimizer.dispose();
    }
  }
  return new LrFindResult(lrs, losses, suggestLr(lrs, losses));
}
