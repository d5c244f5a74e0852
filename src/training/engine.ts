/**
 * The training engine: one loop that only dispatches events to an ordered list of callbacks, and one
 * step. History, the progress view, LR schedules, checkpoints, the NaN stop, early stopping,
 * reduce-on-plateau and lrFind's sweep are all callbacks on it (fastai's Learner, tfjs-layers'
 * configureCallbacks). Events, in order:
 *
 *   onTrainBegin
 *     onEpochBegin(epoch)
 *       onBatchBegin(batch)          may set ctx.lr, call ctx.skipBatch() or ctx.stop()
 *       (the step: forward, loss, gradients, update)
 *       onBatchEnd(batch, logs)      logs: loss, the metrics, lr, size (read back in groups of batches)
 *     onValidationBegin(epoch)
 *     onValidationEnd(epoch, logs)   logs: val_loss, val_<metric>
 *     onEpochEnd(epoch, logs)        logs: loss, metrics, val_*, lr, time_s
 *   onTrainEnd
 *
 * Callbacks run in `order` (lower first; default 0); the built-ins use: schedule -100, NaN stop -90,
 * history -50, progress 50; the others (checkpoint, early stopping, yours) 0, in the order given.
 */
import * as tf from "@tensorflow/tfjs";
import { interruptRequested } from "../runtime/interrupt";
import type { Batch, Dataset } from "../data/types";
import type { History } from "./history";
import type { Objective } from "./objective";
import type { Optimizer } from "./optimizers";

/** Metrics of one epoch: loss, metrics, val_loss, val_<metric>, lr, time_s (absent ones omitted). */
export type Logs = { [metric: string]: number };

/** What onBatchEnd gets: the batch's loss and metrics, its LR, epoch and number of samples. */
export interface BatchLogs extends Logs {
  loss: number;
  lr: number;
  epoch: number;
  size: number;
}

export type MessageLevel = "info" | "warning";

/** What callbacks see and may change while training runs. */
export interface TrainContext {
  model: tf.LayersModel;
  optimizer: Optimizer;
  history: History;
  objective: Objective;
  /** Total epochs requested (epochs are numbered from 1). */
  epochs: number;
  stepsPerEpoch: number;
  /** The epoch running now (1-based). */
  epoch: number;
  /** The batch running now within its epoch (1-based; 0 before the first). */
  batch: number;
  /** Batches stepped since the start of the run, including epochs before a resume: the schedule's position. */
  globalStep: number;
  /** The seed of this run's shuffles (epoch e shuffles with seed + e). */
  seed: number;
  /**
   * The learning rate of the next step. Set it in onBatchBegin (the schedule does); lrScale is
   * applied on top. Reading it after a step gives that step's rate.
   */
  lr: number;
  /** Factor applied on top of the LR (reduceOnPlateau lowers it). Starts at 1. */
  lrScale: number;
  /** Ask training to stop after the current batch, giving a reason shown to the user. */
  stop(reason: string, level?: MessageLevel): void;
  /** Set once stop() was called. */
  readonly stopRequested: boolean;
  readonly stopReason: string | undefined;
  /** In onBatchBegin: do not run the step for this batch. */
  skipBatch(): void;
  /** Print a line in the training output ("warning" for problems the user must see). */
  log(message: string, level?: MessageLevel): void;
  /** True when training stopped because of a kernel interrupt. */
  readonly interrupted: boolean;
}

/** A callback: any of these methods. Epochs are numbered from 1, batches from 1 within an epoch. */
export interface Callback {
  /** Lower runs first (default 0). */
  order?: number;
  /**
   * When onBatchEnd must run right after its batch (the default for callbacks with onBatchEnd, at the
   * cost of a device read per batch), or may get the logs of several batches at once ("batched").
   */
  batchLogs?: "every" | "batched";
  onTrainBegin?(ctx: TrainContext): void | Promise<void>;
  onEpochBegin?(epoch: number, ctx: TrainContext): void | Promise<void>;
  onBatchBegin?(batch: number, ctx: TrainContext): void | Promise<void>;
  onBatchEnd?(batch: number, logs: BatchLogs, ctx: TrainContext): void | Promise<void>;
  onValidationBegin?(epoch: number, ctx: TrainContext): void | Promise<void>;
  onValidationEnd?(epoch: number, logs: Logs, ctx: TrainContext): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: Logs, ctx: TrainContext): void | Promise<void>;
  onTrainEnd?(ctx: TrainContext): void | Promise<void>;
  /** Receives ctx.log messages (the progress view shows them). */
  onMessage?(text: string, level: MessageLevel, ctx: TrainContext): void;
}

/** What a step returns: the batch's loss (a scalar kept on the device) and the metrics' batch sums. */
export interface StepResult {
  loss: tf.Scalar;
  /** One scalar per objective metric (its sum over the batch), in the objective's order. */
  metrics: tf.Scalar[];
  /** True when the update was not applied (a non-finite loss: the weights are as before the batch). */
  skipped?: boolean;
  /** Whether the batch's inputs were all finite (the default step checks on wasm and cpu). */
  inputsFinite?: boolean;
  /** Whether the batch's targets were all finite. */
  targetsFinite?: boolean;
}

/** The tools a step works with: the model, optimizer and objective, and the two halves of a step. */
export interface StepContext {
  model: tf.LayersModel;
  optimizer: Optimizer;
  objective: Objective;
  /** The trainable variables, in the model's order. */
  vars: tf.Variable[];
  /** Clip the global gradient norm to this (undefined: no clipping). */
  clipNorm?: number;
  /** Check the loss before applying the update (synchronous backends: costs nothing). */
  guardNonFinite: boolean;
  /** Loss, metric sums and gradients of one batch (training mode); the caller owns every tensor. */
  gradients(x: tf.Tensor, y: tf.Tensor): { loss: tf.Scalar; metrics: tf.Scalar[]; grads: tf.NamedTensorMap };
  /** Clip (clipNorm) and apply gradients with the optimizer (weight decay included). Does not dispose them. */
  applyGradients(grads: tf.NamedTensorMap): void;
}

/**
 * A training step: `(batch, s) => StepResult`. The default is gradients + applyGradients; replace it
 * for gradient accumulation, two models, or anything else (the loop, callbacks and read-back stay).
 */
export type StepFunction = (batch: Batch, s: StepContext) => StepResult;

/**
 * The default step: gradients, a check that the loss, the inputs and the targets are finite (one read
 * of three numbers, on backends where reads are free), the update only if they are. A NaN pixel is
 * caught even where the model would hide it (ReLU turns NaN into 0 on the WebAssembly backend).
 */
export const defaultStep: StepFunction = (batch, s) => {
  const g = s.gradients(batch.x, batch.y);
  try {
    if (s.guardNonFinite) {
      // A sum is finite exactly when every value is (short of float overflow, which the exact check
      // below tells apart): one fast reduction per tensor instead of an element-wise isFinite.
      const sums = tf.tidy(() => tf.stack([g.loss, batch.x.sum(), batch.y.toFloat().sum()]));
      const [loss, xs, ys] = sums.dataSync();
      sums.dispose();
      if (!Number.isFinite(loss) || !Number.isFinite(xs) || !Number.isFinite(ys)) {
        const xOk = Number.isFinite(xs) || allFinite(batch.x);
        const yOk = Number.isFinite(ys) || allFinite(batch.y);
        if (!Number.isFinite(loss) || !xOk || !yOk) return { loss: g.loss, metrics: g.metrics, skipped: true, inputsFinite: xOk, targetsFinite: yOk };
      }
    }
    s.applyGradients(g.grads);
  } catch (e) {
    tf.dispose([g.loss, ...g.metrics]);
    throw e;
  } finally {
    tf.dispose(Object.values(g.grads));
  }
  return { loss: g.loss, metrics: g.metrics };
};

/** True when every value of `t` is finite (one device read). */
export function allFinite(t: tf.Tensor): boolean {
  return tf.tidy(() => tf.isFinite(t.dtype === "float32" ? t : t.toFloat()).all().dataSync()[0] === 1);
}

export function makeStepContext(model: tf.LayersModel, optimizer: Optimizer, objective: Objective, clipNorm?: number): StepContext {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const backend = tf.getBackend();
  return {
    model,
    optimizer,
    objective,
    vars,
    clipNorm,
    guardNonFinite: backend !== "webgl" && backend !== "webgpu",
    gradients(x, y) {
      const metrics: tf.Scalar[] = [];
      try {
        const { value, grads } = tf.variableGrads(() => {
          const out = model.apply(x, { training: true }) as tf.Tensor;
          const loss = objective.batchLoss(out, y, true);
          for (const m of objective.metrics) metrics.push(tf.keep(m.batchSum(out, y)));
          return loss;
        }, vars);
        return { loss: value, metrics, grads };
      } catch (e) {
        tf.dispose(metrics);
        throw e;
      }
    },
    applyGradients(grads) {
      tf.tidy(() => {
        let g = grads;
        if (clipNorm) {
          const names = Object.keys(grads);
          const norm = tf.sqrt(tf.addN(names.map((n) => grads[n].square().sum())));
          const scale = tf.minimum(1, tf.div(clipNorm, norm.add(1e-12)));
          g = {};
          for (const n of names) g[n] = grads[n].mul(scale);
        }
        optimizer.apply(g, vars);
      });
    },
  };
}

/** Mean loss (without label smoothing) and metrics of `model` over `ds`, in inference mode. */
export async function validate(model: tf.LayersModel, ds: Dataset, objective: Objective, batchSize: number): Promise<Logs> {
  const sums = new Array(objective.metrics.length + 1).fill(0);
  let n = 0;
  for await (const b of ds.batches({ batchSize, shuffle: false })) {
    const bs = b.x.shape[0];
    let stacked: tf.Tensor;
    try {
      stacked = tf.tidy(() => {
        const out = model.apply(b.x, { training: false }) as tf.Tensor;
        const loss = objective.batchLoss(out, b.y, false).mul(bs);
        return tf.stack([loss, ...objective.metrics.map((m) => m.batchSum(out, b.y))]);
      });
    } finally {
      tf.dispose([b.x, b.y]);
    }
    const v = await stacked.data();
    stacked.dispose();
    for (let i = 0; i < v.length; i++) sums[i] += v[i];
    n += bs;
  }
  const logs: Logs = { loss: sums[0] / Math.max(n, 1) };
  objective.metrics.forEach((m, i) => (logs[m.name] = m.finish(sums[i + 1], n)));
  return logs;
}

export interface EngineConfig {
  model: tf.LayersModel;
  data: Dataset;
  objective: Objective;
  optimizer: Optimizer;
  history: History;
  /** Epochs to train to (including `initialEpoch`). */
  epochs: number;
  /** Epochs already done. */
  initialEpoch: number;
  /** Batches already stepped (the schedule's position after a resume); default initialEpoch · stepsPerEpoch. */
  initialStep?: number;
  batchSize: number;
  shuffle: boolean;
  seed: number;
  validationData?: Dataset;
  validationBatchSize?: number;
  callbacks: Callback[];
  step?: StepFunction;
  clipNorm?: number;
  /** The LR before any callback sets one (the optimizer's base LR). */
  baseLr: number;
  /** ctx.lrScale at the start (a resumed run's reduceOnPlateau factor); default 1. */
  initialLrScale?: number;
  /**
   * Asked where a kernel interrupt is looked for (before each batch, after each epoch): what asked
   * training to stop (e.g. "the Stop button"), or undefined. A request stops training exactly as an
   * interrupt does: after the current batch, `interrupted` set, the reason naming it.
   */
  stopRequested?: () => string | undefined;
}

export interface EngineResult {
  stopReason?: string;
  /** How the stop reason is to be shown (what the callback that stopped passed to ctx.stop). */
  stopLevel: MessageLevel;
  interrupted: boolean;
  /** Set when a non-finite loss stopped training. */
  nonFinite?: { epoch: number; batch: number; inputsFinite?: boolean };
}

interface Pending {
  result: StepResult;
  n: number;
  epoch: number;
  batch: number;
  lr: number;
}

const READ_INTERVAL_MS = 250;
const MAX_PENDING = 64;

/** Run the loop: dispatch events to the callbacks, step every batch, read results back in groups. */
export async function runEngine(cfg: EngineConfig): Promise<EngineResult> {
  const { model, data, objective, optimizer, history } = cfg;
  const callbacks = [...cfg.callbacks].map((c, i) => ({ c, i })).sort((a, b) => (a.c.order ?? 0) - (b.c.order ?? 0) || a.i - b.i).map((e) => e.c);
  const stepsPerEpoch = Math.ceil(data.size / cfg.batchSize);
  const s = makeStepContext(model, optimizer, objective, cfg.clipNorm);
  const step = cfg.step ?? defaultStep;
  const everyBatch = callbacks.some((c) => typeof c.onBatchEnd === "function" && (c.batchLogs ?? "every") === "every");

  let stopReason: string | undefined;
  let interrupted = false;
  /** "interrupted" for a kernel interrupt, "stopped with <what>" for a stop request, else undefined. */
  const stopAsked = (): string | undefined => {
    if (interruptRequested()) return "interrupted";
    const what = cfg.stopRequested?.();
    return what ? `stopped with ${what}` : undefined;
  };
  let skip = false;
  let nonFinite: EngineResult["nonFinite"];
  let stopLevel: MessageLevel = "info";
  const ctx: TrainContext = {
    model,
    optimizer,
    history,
    objective,
    epochs: cfg.epochs,
    stepsPerEpoch,
    epoch: cfg.initialEpoch,
    batch: 0,
    globalStep: cfg.initialStep ?? cfg.initialEpoch * stepsPerEpoch,
    seed: cfg.seed,
    lr: cfg.baseLr,
    lrScale: cfg.initialLrScale ?? 1,
    stop(reason: string, level: MessageLevel = "info") {
      if (stopReason) return;
      stopReason = reason;
      stopLevel = level;
    },
    get stopRequested() {
      return stopReason !== undefined;
    },
    get stopReason() {
      return stopReason;
    },
    skipBatch() {
      skip = true;
    },
    log(message: string, level: MessageLevel = "info") {
      for (const c of callbacks) c.onMessage?.(message, level, ctx);
    },
    get interrupted() {
      return interrupted;
    },
  };
  const emit = async <K extends "onTrainBegin" | "onTrainEnd">(name: K) => {
    for (const c of callbacks) await c[name]?.(ctx);
  };

  // Weights at the last read, to put back when a non-finite loss is found after an unchecked step
  // (GPU backends, where the default step does not read the loss before updating).
  let snapshot: tf.Tensor[] | undefined;
  let snapshotAt = "the start of training";
  const takeSnapshot = (where: string) => {
    if (s.guardNonFinite) return;
    if (snapshot) tf.dispose(snapshot);
    snapshot = model.getWeights().map((w) => w.clone());
    snapshotAt = where;
  };

  try {
    await emit("onTrainBegin");
    takeSnapshot("the start of training");
    for (let epoch = cfg.initialEpoch + 1; epoch <= cfg.epochs && !stopReason; epoch++) {
      ctx.epoch = epoch;
      ctx.batch = 0;
      for (const c of callbacks) await c.onEpochBegin?.(epoch, ctx);
      if (stopReason) break;
      const epochStart = Date.now();
      let lastRead = Date.now();
      let pending: Pending[] = [];
      const sums = new Array(objective.metrics.length).fill(0);
      let lossSum = 0;
      let seen = 0;

      const flush = async (): Promise<void> => {
        if (pending.length === 0) return;
        const group = pending;
        pending = [];
        const width = 1 + objective.metrics.length;
        let values: Float32Array | Int32Array | Uint8Array;
        try {
          const stacked = tf.stack(group.flatMap((p) => [p.result.loss, ...p.result.metrics]));
          try {
            values = await stacked.data();
          } finally {
            stacked.dispose();
          }
        } finally {
          for (const p of group) tf.dispose([p.result.loss, ...p.result.metrics]);
        }
        lastRead = Date.now();
        for (let g = 0; g < group.length; g++) {
          const p = group[g];
          const loss = values[g * width];
          const logs: BatchLogs = { loss, lr: p.lr, epoch: p.epoch, size: p.n };
          objective.metrics.forEach((m, j) => (logs[m.name] = m.finish(values[g * width + 1 + j], p.n)));
          const badData = p.result.inputsFinite === false || p.result.targetsFinite === false;
          if (Number.isFinite(loss) && !badData) {
            lossSum += loss * p.n;
            objective.metrics.forEach((_, j) => (sums[j] += values[g * width + 1 + j]));
            seen += p.n;
          } else if (!nonFinite) {
            nonFinite = { epoch: p.epoch, batch: p.batch, inputsFinite: p.result.inputsFinite };
            // What the weights are now, for the message: kept (the step did not update), put back from
            // the last checked point, or left as the step made them (a custom step on a CPU backend).
            let weights: string;
            if (p.result.skipped) weights = "the weights are those from before that batch";
            else if (snapshot) {
              model.setWeights(snapshot);
              weights = `the weights were put back to those of ${snapshotAt} (the optimizer's state was not)`;
            } else weights = "the step had already updated the weights, which may now be unusable";
            (logs as any).weights = weights;
            logs.inputsFinite = p.result.inputsFinite === undefined ? NaN : p.result.inputsFinite ? 1 : 0;
            logs.targetsFinite = p.result.targetsFinite === undefined ? NaN : p.result.targetsFinite ? 1 : 0;
          }
          for (const c of callbacks) await c.onBatchEnd?.(p.batch, logs, ctx);
          if (nonFinite) break;
        }
        if (!nonFinite) takeSnapshot(`epoch ${epoch}, batch ${group[group.length - 1].batch}`);
      };

      try {
        for await (const b of data.batches({ batchSize: cfg.batchSize, shuffle: cfg.shuffle, seed: cfg.seed + epoch })) {
          const by = stopAsked();
          if (by) {
            tf.dispose([b.x, b.y]);
            await flush();
            interrupted = true;
            ctx.stop(`${by} at epoch ${epoch}, batch ${ctx.batch} of ${stepsPerEpoch}`, "warning");
            break;
          }
          ctx.batch++;
          ctx.lr = cfg.baseLr;
          skip = false;
          for (const c of callbacks) await c.onBatchBegin?.(ctx.batch, ctx);
          if (skip || stopReason) {
            tf.dispose([b.x, b.y]);
            if (stopReason) break;
            ctx.globalStep++;
            continue;
          }
          const lr = ctx.lr * ctx.lrScale;
          if (!(lr >= 0) || !Number.isFinite(lr)) {
            tf.dispose([b.x, b.y]);
            throw new Error(`train(): the learning rate for epoch ${epoch}, batch ${ctx.batch} is ${lr}; it must be a finite number >= 0. Check lr, the schedule and callbacks that set ctx.lr.`);
          }
          optimizer.setStepLr(lr);
          let result: StepResult;
          try {
            result = step(b, s);
          } finally {
            tf.dispose([b.x, b.y]);
          }
          const problem = checkStepResult(result, objective.metrics.length);
          if (problem) {
            if (result && typeof result === "object") tf.dispose([result.loss, ...(Array.isArray(result.metrics) ? result.metrics : [])].filter((t) => t instanceof tf.Tensor));
            throw new Error(`train(): the step returned ${problem}; a step returns { loss: tf.Scalar, metrics: tf.Scalar[] } with one batch sum per metric (${objective.metrics.map((m) => m.name).join(", ") || "none"}), e.g. from s.gradients(x, y).`);
          }
          pending.push({ result, n: b.x.shape[0], epoch, batch: ctx.batch, lr });
          ctx.globalStep++;
          if (everyBatch || result.skipped || Date.now() - lastRead >= READ_INTERVAL_MS || pending.length >= MAX_PENDING) await flush();
          if (stopReason || nonFinite) break;
        }
        await flush();
      } finally {
        for (const p of pending) tf.dispose([p.result.loss, ...p.result.metrics]);
        pending = [];
      }
      if (interrupted || nonFinite || seen === 0) break;

      const logs: Logs = { loss: lossSum / seen };
      objective.metrics.forEach((m, j) => (logs[m.name] = m.finish(sums[j], seen)));
      if (cfg.validationData) {
        for (const c of callbacks) await c.onValidationBegin?.(epoch, ctx);
        const v = await validate(model, cfg.validationData, objective, cfg.validationBatchSize ?? cfg.batchSize);
        const vlogs: Logs = {};
        for (const [k, val] of Object.entries(v)) vlogs[`val_${k}`] = val;
        for (const c of callbacks) await c.onValidationEnd?.(epoch, vlogs, ctx);
        Object.assign(logs, vlogs);
      }
      logs.lr = optimizer.lr;
      logs.time_s = (Date.now() - epochStart) / 1000;
      for (const c of callbacks) await c.onEpochEnd?.(epoch, logs, ctx);
      const by = stopAsked();
      if (by && !stopReason) {
        interrupted = true;
        ctx.stop(`${by} after epoch ${epoch}`, "warning");
      }
    }
  } finally {
    if (snapshot) tf.dispose(snapshot);
    for (const c of callbacks) {
      try {
        await c.onTrainEnd?.(ctx);
      } catch (e) {
        ctx.log(`callback onTrainEnd failed: ${(e as Error).message}`, "warning");
      }
    }
  }
  return { stopReason, stopLevel, interrupted, nonFinite };
}

/** What is wrong with a step's result, or undefined. */
function checkStepResult(r: StepResult, metrics: number): string | undefined {
  if (!r || typeof r !== "object") return String(r);
  if (!(r.loss instanceof tf.Tensor)) return "no loss tensor";
  if (r.loss.size !== 1) return `a loss of shape [${r.loss.shape.join(", ")}] (it must be a scalar)`;
  if (!Array.isArray(r.metrics)) return "no metrics list";
  if (r.metrics.length !== metrics) return `${r.metrics.length} metric values for ${metrics} metrics`;
  const bad = r.metrics.find((m) => !(m instanceof tf.Tensor) || m.size !== 1);
  if (bad) return "a metric value that is not a scalar tensor";
  return undefined;
}
