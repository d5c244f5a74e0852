/**
 * train(model, data, options): checks every option where it enters, works out the objective (loss,
 * metrics, regularisation, label smoothing), the optimizer and where a resumed run stands, and runs
 * the engine (engine.ts) with the built-in callbacks: LR schedule, NaN stop, history, progress view,
 * then the user's.
 */
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { ready } from "../backend";
import type { Dataset } from "../data/types";
import { History } from "./history";
import { makeOptimizer, Optimizer, type OptimizerName, type OptimizerSpec } from "./optimizers";
import { makeSchedule, checkSchedule, type ScheduleSpec, type LrFunction } from "./schedules";
import { checkFits, isClassification, toDataset, type DataInput } from "./inputs";
import { ProgressView, type Verbosity } from "./progress";
import { runEngine, type Callback, type StepFunction, type BatchLogs, type TrainContext, type Logs } from "./engine";
import { compiledSettings, makeObjective, type LossSpec, type MetricSpec, type Objective } from "./objective";
import * as ckpt from "./checkpoint_io";
import { checkNumber, checkOptionNames } from "../util/options";

export interface TrainOptions {
  /** Epochs to train to (default 1). With resumeFrom/initialEpoch, the total including earlier ones. */
  epochs?: number;
  /** Samples per batch (default 32). */
  batchSize?: number;
  /** "sgd" | "adam" | "adamw", a spec ({ type: "sgd", lr: 0.01, momentum: 0.9, nesterov: true }), or lepton's Optimizer to keep its state between calls. Default: the compiled model's optimizer, else SGD. */
  optimizer?: OptimizerSpec | OptimizerName | Optimizer;
  /** Learning rate (overrides the optimizer spec's lr; the peak LR for "onecycle"). */
  lr?: number;
  /** Weight decay (overrides the optimizer spec's). */
  weightDecay?: number;
  /** Loss: a name ("sparseCategoricalCrossentropy", "categoricalCrossentropy", "binaryCrossentropy", "meanSquaredError", "meanAbsoluteError", "huber") or (yTrue, yPred) => tf.Scalar. Default: the compiled model's, else what the targets call for. */
  loss?: LossSpec;
  /** Metrics: names ("accuracy", "mse", "rmse", "mae") or functions (yTrue, yPred) => tf.Tensor, recorded by the function's name. Default: accuracy for classifiers. */
  metrics?: MetricSpec[];
  /** Label smoothing for classification, e.g. 0.1 (default 0). Training loss only. */
  labelSmoothing?: number;
  /** LR schedule, changed every batch (default "constant"), or a function (step, lr) => lr of the batch count since the start. */
  schedule?: ScheduleSpec;
  /** Clip the global gradient norm to this value (default: no clipping). */
  clipNorm?: number;
  /** Data to evaluate after each epoch. */
  validationData?: DataInput;
  /** Hold out this fraction of the training data for validation instead (seeded split). */
  validationSplit?: number;
  /** Batch size for validation (default: batchSize). */
  validationBatchSize?: number;
  /** Shuffle each epoch (default true). */
  shuffle?: boolean;
  /** Seed for shuffling and the validation split (default: a random seed, kept in checkpoints). */
  seed?: number;
  callbacks?: Callback[];
  /** 0 silent, 1 (default) progress, 2 also per-epoch lines in notebooks. */
  verbose?: Verbosity;
  /** Continue from a checkpoint folder: weights, optimizer and its state, epochs done, schedule position, shuffle seed. */
  resumeFrom?: string;
  /** Epochs already done (when continuing with lepton.load()'s model and optimizer). */
  initialEpoch?: number;
  /** Replace the training step (gradient accumulation, two models): see engine.ts's StepFunction. */
  step?: StepFunction;
  /**
   * Stop training from elsewhere (a timer, another widget, a web request): when `signal` is aborted,
   * training stops after the current batch exactly as a kernel interrupt stops it (history.interrupted).
   *   const stop = new AbortController(); setTimeout(() => stop.abort(), 60_000);
   *   await lepton.train(net, data, { epochs: 50, signal: stop.signal });
   */
  signal?: AbortSignal;
}

const TRAIN_OPTIONS = [
  "epochs", "batchSize", "optimizer", "lr", "weightDecay", "loss", "metrics", "labelSmoothing", "schedule", "clipNorm",
  "validationData", "validationSplit", "validationBatchSize", "shuffle", "seed", "callbacks", "verbose", "resumeFrom", "initialEpoch", "step", "signal",
];

/** A training stop caused by a NaN or infinite loss. */
export class NonFiniteLossError extends Error {
  constructor(message: string, readonly epoch: number, readonly batch: number) {
    super(message);
    this.name = "NonFiniteLossError";
  }
}

const FN = "train()";

/** Check the options of train() (and fitOneCycle) before any work: names, numbers, kinds. */
export function checkTrainOptions(opts: TrainOptions, fn = FN, extraNames: string[] = []): void {
  checkOptionNames(opts, [...TRAIN_OPTIONS, ...extraNames], fn, "(momentum, nesterov and betas go in the optimizer spec: optimizer: { type: \"sgd\", lr: 0.01, momentum: 0.9 }.)");
  checkNumber(opts.epochs, "epochs", (v) => Number.isInteger(v) && v >= 1, "a whole number >= 1", fn);
  checkNumber(opts.batchSize, "batchSize", (v) => Number.isInteger(v) && v >= 1, "a whole number >= 1", fn);
  checkNumber(opts.validationBatchSize, "validationBatchSize", (v) => Number.isInteger(v) && v >= 1, "a whole number >= 1", fn);
  checkNumber(opts.lr, "lr", (v) => Number.isFinite(v) && v > 0, "a positive number such as 0.01", fn);
  checkNumber(opts.weightDecay, "weightDecay", (v) => Number.isFinite(v) && v >= 0, "a number >= 0", fn);
  checkNumber(opts.labelSmoothing, "labelSmoothing", (v) => v >= 0 && v < 1, "in [0, 1)", fn);
  checkNumber(opts.validationSplit, "validationSplit", (v) => v > 0 && v < 1, "between 0 and 1", fn);
  checkNumber(opts.clipNorm, "clipNorm", (v) => Number.isFinite(v) && v > 0, "a positive number", fn);
  checkNumber(opts.seed, "seed", (v) => Number.isInteger(v), "a whole number", fn);
  checkNumber(opts.initialEpoch, "initialEpoch", (v) => Number.isInteger(v) && v >= 0, "a whole number >= 0", fn);
  if (opts.verbose !== undefined && ![0, 1, 2].includes(opts.verbose as number)) throw new Error(`${fn}: verbose must be 0, 1 or 2; got ${String(opts.verbose)}.`);
  if (opts.shuffle !== undefined && typeof opts.shuffle !== "boolean") throw new Error(`${fn}: shuffle must be true or false; got ${String(opts.shuffle)}.`);
  if (opts.signal !== undefined && typeof (opts.signal as { aborted?: unknown } | null)?.aborted !== "boolean") {
    throw new Error(`${fn}: signal must be an AbortSignal (new AbortController().signal); got ${String(opts.signal)}.`);
  }
  if (opts.callbacks !== undefined && !(Array.isArray(opts.callbacks) && opts.callbacks.every((c) => c && typeof c === "object"))) {
    throw new Error(`${fn}: callbacks must be a list of callback objects, e.g. [lepton.callbacks.earlyStopping()].`);
  }
  if (opts.step !== undefined && typeof opts.step !== "function") throw new Error(`${fn}: step must be a function (batch, s) => ({ loss, metrics }).`);
  if (opts.resumeFrom !== undefined && (typeof opts.resumeFrom !== "string" || !opts.resumeFrom)) throw new Error(`${fn}: resumeFrom must be a checkpoint folder path.`);
  if (opts.resumeFrom !== undefined && opts.initialEpoch !== undefined) throw new Error(`${fn}: pass resumeFrom or initialEpoch, not both (resumeFrom knows the epochs done).`);
  if (opts.validationData !== undefined && opts.validationSplit !== undefined) throw new Error(`${fn}: pass validationData or validationSplit, not both.`);
  if (opts.schedule !== undefined) checkSchedule(opts.schedule, fn);
}

/** The LR schedule as a callback: sets ctx.lr before each batch from the run's step count. */
export function scheduleCallback(lrAt: LrFunction): Callback {
  return { order: -100, onBatchBegin: (_b, ctx) => void (ctx.lr = lrAt(ctx.globalStep)) };
}

/** The NaN stop: a non-finite loss stops training, says where and whether the inputs were finite. */
export function nonFiniteStop(stepsPerEpoch: number, dataName = "dataset"): Callback & { error?: NonFiniteLossError } {
  const cb: Callback & { error?: NonFiniteLossError } = {
    order: -90,
    batchLogs: "batched",
    onBatchEnd(batch, logs, ctx) {
      const badData = logs.inputsFinite === 0 || logs.targetsFinite === 0;
      if ((Number.isFinite(logs.loss) && !badData) || cb.error) return;
      const where = `epoch ${logs.epoch}, batch ${batch} of ${stepsPerEpoch} (lr ${logs.lr.toExponential(2)})`;
      const restored = `Training stopped; ${(logs as any).weights ?? "the weights are those from before that batch"}.`;
      const what = badData ? `NaN or infinite ${logs.inputsFinite === 0 ? "inputs" : "targets"} in the data` : `a ${Number.isNaN(logs.loss) ? "NaN" : "infinite"} loss`;
      let advice: string;
      if (badData) {
        advice = `This is a data problem, not a learning-rate one: find the samples with ${dataName}.check() (in-memory datasets), or tf.isNaN(x).any() on your tensors, and clean or drop them. A normalize() with a zero standard deviation also makes them.`;
      } else if (logs.inputsFinite === 0) {
        advice = `The inputs of that batch contain NaN or infinite values: this is a data problem, not a learning-rate one. Find them with tf.isNaN(x).any() on the data, and clean or drop those samples.`;
      } else {
        advice =
          `${logs.inputsFinite === 1 ? "The inputs of that batch were finite, so the model diverged: " : ""}try a lower learning rate (e.g. lr/10, or find one with lepton.lrFind), ` +
          `normalise the inputs (scale to [0, 1] or mean 0 / std 1), or clip gradients (clipNorm: 1).`;
      }
      const message = `${badData ? `Found ${what}` : `Loss became ${Number.isNaN(logs.loss) ? "NaN" : "infinite"}`} at ${where}. ${restored} ${advice}`;
      cb.error = new NonFiniteLossError(message, logs.epoch, batch);
      ctx.stop(message, "warning");
    },
  };
  return cb;
}

/** History as a callback: records each epoch's logs. */
export function historyCallback(history: History): Callback {
  return { order: -50, onEpochEnd: (epoch, logs) => history.record(epoch, logs) };
}

/** The progress view as a callback: progress bar with smoothed loss, epoch rows, messages. */
export function progressCallback(view: ProgressView): Callback {
  let smooth = 0;
  let count = 0;
  let epochStart = Date.now();
  let seen = 0;
  return {
    order: 50,
    batchLogs: "batched",
    onEpochBegin() {
      epochStart = Date.now();
      seen = 0;
    },
    onBatchEnd(batch, logs, ctx) {
      if (!Number.isFinite(logs.loss)) return;
      seen += logs.size;
      count++;
      smooth = 0.98 * smooth + 0.02 * logs.loss;
      const elapsed = (Date.now() - epochStart) / 1000;
      const sps = seen / Math.max(elapsed, 1e-6);
      const eta = (ctx.stepsPerEpoch - batch) * (elapsed / batch);
      view.batch(logs.epoch, batch, sps, eta, smooth / (1 - Math.pow(0.98, count)), logs.lr);
    },
    onEpochEnd: (epoch, logs) => view.epochEnd(epoch, logs),
    onMessage: (text, level) => view.message(text, level),
  };
}

/** What a resumed run starts from. */
interface Start {
  optimizer: Optimizer;
  ownsOptimizer: boolean;
  epoch: number;
  step?: number;
  seed?: number;
  lrScale?: number;
}

async function resume(dir: string, model: tf.LayersModel, opts: TrainOptions, history: History): Promise<Start> {
  const abs = path.resolve(dir);
  ckpt.recoverCheckpoint(abs);
  if (!fs.existsSync(path.join(abs, "model.json"))) {
    throw new Error(`${FN}: resumeFrom folder ${abs} has no checkpoint (model.json); save one with lepton.callbacks.checkpoint({ dir }) or lepton.save().`);
  }
  const state = ckpt.readState(abs);
  // The optimizer first (its checks refuse another type or another model), then the weights: a refusal
  // leaves the model as it was.
  let optimizer: Optimizer;
  let ownsOptimizer = true;
  if (opts.optimizer !== undefined) {
    optimizer = makeOptimizer(opts.optimizer, opts.lr, opts.weightDecay);
    // A tf.train optimizer of the user's is not overwritten: its spec is used with the saved state.
    if (optimizer.isBorrowed) optimizer = optimizer.copySpec();
    ownsOptimizer = optimizer !== opts.optimizer;
  } else {
    const saved = await ckpt.loadOptimizer(abs, model);
    optimizer = saved ?? makeOptimizer(undefined, opts.lr, opts.weightDecay);
    if (saved && opts.lr !== undefined) optimizer.setLr(opts.lr);
    if (saved && opts.weightDecay !== undefined) (optimizer.spec as { weightDecay: number }).weightDecay = opts.weightDecay;
  }
  try {
    if (opts.optimizer !== undefined) await ckpt.loadOptimizerState(abs, optimizer, model);
    await ckpt.loadWeightsInto(abs, model);
  } catch (e) {
    if (ownsOptimizer) optimizer.dispose();
    throw e;
  }
  const epochs = state?.epochs ?? [];
  epochs.forEach((e, i) => {
    const logs: Logs = {};
    for (const [k, v] of Object.entries(state?.history ?? {})) logs[k] = (v as number[])[i];
    history.record(e, logs);
  });
  const lrScale = typeof state?.lrScale === "number" && state.lrScale > 0 ? state.lrScale : undefined;
  return { optimizer, ownsOptimizer, epoch: state?.epoch ?? 0, step: state?.globalStep, seed: state?.seed, lrScale };
}

/** train() disposes optimizers it made from a spec; a lepton Optimizer or a raw tf one belongs to the caller. */
function ownsSpec(spec: TrainOptions["optimizer"]): boolean {
  return !(spec instanceof Optimizer) && !(spec && typeof spec === "object" && "applyGradients" in (spec as object));
}

/** The optimizer for a run: the option, else the compiled model's, else SGD. */
function chooseOptimizer(model: tf.LayersModel, opts: TrainOptions): { optimizer: Optimizer; owns: boolean } {
  if (opts.optimizer === undefined) {
    const compiled = compiledSettings(model).optimizer;
    if (compiled) return { optimizer: Optimizer.fromTf(compiled, opts.lr, opts.weightDecay), owns: false };
  }
  return { optimizer: makeOptimizer(opts.optimizer, opts.lr, opts.weightDecay), owns: ownsSpec(opts.optimizer) };
}

/**
 * Train `model` on `data` and return the History (its display is the training's live chart).
 *
 *   const history = await lepton.train(model, cifar.train, {
 *     epochs: 2, batchSize: 64, optimizer: { type: "sgd", lr: 0.01, momentum: 0.9 }, validationData: cifar.test });
 *   history.history.val_accuracy;   // per-epoch values by metric name, as Keras
 */
export async function train(model: tf.LayersModel, data: DataInput, options: TrainOptions = {}): Promise<History> {
  const opts = options ?? {};
  checkTrainOptions(opts);
  await ready();
  const epochs = opts.epochs ?? 1;
  const batchSize = opts.batchSize ?? 32;
  const verbose: Verbosity = opts.verbose ?? 1;

  let trainDs = toDataset(data, FN, "data");
  let valDs: Dataset | undefined = opts.validationData ? toDataset(opts.validationData, FN, "validationData") : undefined;
  if (opts.validationSplit) [trainDs, valDs] = trainDs.split(1 - opts.validationSplit, { seed: opts.seed ?? 0 });
  if (trainDs.size === 0) throw new Error(`${FN}: the training data is empty.`);
  checkFits(model, trainDs, FN, { targets: false });
  // Non-finite values found before any step, by sample (in-memory datasets; others are checked per batch).
  for (const [ds, what] of [[trainDs, "data"], [valDs, "validationData"]] as const) {
    const check = ds && typeof (ds as any).check === "function" ? (ds as any).check() : undefined;
    if (check && !check.ok) {
      throw new Error(`${FN}: ${what} ${check.toString()} Clean or drop those samples (e.g. ${ds!.name}.take(...) around them, or fix the source), or check the normalisation (a zero standard deviation divides by 0).`);
    }
  }
  const objective = await makeObjective(model, trainDs, opts, FN);
  // Regression targets must have the output's shape; class targets were checked by the objective.
  checkFits(model, trainDs, FN, { targets: objective.targets === "values" || isClassification(trainDs) });
  if (valDs) {
    checkFits(model, valDs, `${FN} validationData`, { targets: objective.targets === "values" || isClassification(valDs) });
    const same = isClassification(valDs) === isClassification(trainDs) && valDs.targetShape.join(",") === trainDs.targetShape.join(",");
    if (!same) {
      const kind = (d: Dataset) => (isClassification(d) ? "class indices" : `float targets of shape [${d.targetShape.join(", ")}]`);
      throw new Error(`${FN}: the training data has ${kind(trainDs)} but validationData has ${kind(valDs)}; give both the same kind (both int32 labels, or both one-hot rows).`);
    }
  }

  const history = new History();
  const stepsPerEpoch = Math.ceil(trainDs.size / batchSize);
  let start: Start;
  if (opts.resumeFrom) start = await resume(opts.resumeFrom, model, opts, history);
  else {
    const { optimizer, owns } = chooseOptimizer(model, opts);
    start = { optimizer, ownsOptimizer: owns, epoch: opts.initialEpoch ?? 0 };
  }
  const { optimizer } = start;
  const seed = opts.seed ?? start.seed ?? Math.floor(Math.random() * 2 ** 31);
  const view = new ProgressView(verbose, epochs, stepsPerEpoch, {
    metrics: objective.metrics.map((m) => m.name),
    labelSmoothing: objective.labelSmoothing,
    classes: objective.classes,
    history,
  });
  history.params = { ...(history.params ?? {}), epochs, steps: stepsPerEpoch, batchSize };
  try {
    // The schedule starts from the LR asked for (opts.lr, the spec's, or setLr's), not from wherever an
    // earlier run's schedule left a reused optimizer.
    const baseLr = opts.lr ?? optimizer.baseLr;
    const lrAt = makeSchedule(opts.schedule, baseLr, stepsPerEpoch, epochs);
    const nan = nonFiniteStop(stepsPerEpoch, trainDs.name);
    for (const note of objective.notes) view.message(note, "info");
    if (start.epoch >= epochs) view.message(`Already trained ${start.epoch} epochs (epochs: ${epochs}); nothing to do. Pass a larger epochs to continue.`);
    const result = await runEngine({
      model,
      data: trainDs,
      objective,
      optimizer,
      history,
      epochs,
      initialEpoch: start.epoch,
      initialStep: start.step,
      batchSize,
      shuffle: opts.shuffle ?? true,
      seed,
      validationData: valDs,
      validationBatchSize: opts.validationBatchSize,
      callbacks: [scheduleCallback(lrAt), nan, historyCallback(history), progressCallback(view), ...(opts.callbacks ?? [])],
      step: opts.step,
      clipNorm: opts.clipNorm,
      baseLr,
      initialLrScale: start.lrScale,
      stopRequested: () => view.stopRequested() ?? (opts.signal?.aborted ? "the abort signal" : undefined),
    });
    if (result.stopReason) {
      history.stopReason = result.stopReason;
      history.interrupted = result.interrupted;
      if (result.interrupted) {
        view.message(`Training interrupted (${result.stopReason}). The model keeps its weights from the last completed batch; the history holds ${history.epochs.length} completed epoch(s).`, "warning");
      } else if (nan.error) {
        view.message(result.stopReason, "warning");
      } else {
        view.message(`Training stopped: ${result.stopReason}.`, result.stopLevel);
      }
    }
  } finally {
    view.close();
    if (start.ownsOptimizer) optimizer.dispose();
  }
  return history;
}

/**
 * fastai-style one-cycle training: train() with schedule "onecycle" peaking at `maxLr`.
 *
 *   await lepton.fitOneCycle(model, data, { epochs: 5, maxLr: 0.01 });
 */
export async function fitOneCycle(model: tf.LayersModel, data: DataInput, options: TrainOptions & { maxLr?: number } = {}): Promise<History> {
  const { maxLr, ...rest } = options ?? {};
  checkOptionNames(options, [...TRAIN_OPTIONS, "maxLr"], "fitOneCycle()");
  checkNumber(maxLr, "maxLr", (v) => Number.isFinite(v) && v > 0, "a positive number such as 0.01", "fitOneCycle()");
  return train(model, data, {
    optimizer: { type: "adamw" },
    ...rest,
    ...(maxLr !== undefined ? { lr: maxLr } : {}),
    schedule: { type: "onecycle", ...(typeof rest.schedule === "object" && rest.schedule.type === "onecycle" ? rest.schedule : {}) },
  });
}

export type { BatchLogs, TrainContext };
