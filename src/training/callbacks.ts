/**
 * Training callbacks: hooks at training, epoch and batch boundaries, and the built-in ones
 * (earlyStopping, checkpoint, reduceOnPlateau).
 */
import * as tf from "@tensorflow/tfjs";
import { save } from "./checkpoint_io";

export type { Logs, BatchLogs, TrainContext, Callback, MessageLevel, StepFunction, StepContext, StepResult } from "./engine";
import type { Logs, TrainContext, Callback } from "./engine";

type Mode = "min" | "max" | "auto";

/** Tracks the best value of a metric ("min" for losses, "max" for accuracy under "auto"). */
class Monitor {
  best: number;
  readonly sign: number;
  constructor(readonly metric: string, mode: Mode, readonly minDelta: number) {
    const m = mode === "auto" ? (/acc|f1|precision|recall/.test(metric) ? "max" : "min") : mode;
    this.sign = m === "min" ? 1 : -1;
    this.best = Infinity * this.sign;
  }
  /** The value this epoch, falling back from val_x to x when there is no validation data. */
  read(logs: Logs, ctx: TrainContext, who: string): number | undefined {
    if (logs[this.metric] !== undefined) return logs[this.metric];
    throw new Error(
      `${who}: metric "${this.metric}" is not in the epoch logs (${Object.keys(logs).join(", ")}). ` +
        `Pass monitor: one of those, or give train() validationData / validationSplit for val_ metrics.`,
    );
  }
  improved(value: number): boolean {
    return this.sign * (this.best - value) > this.minDelta;
  }
}

export interface EarlyStoppingOptions {
  /** Metric to watch (default "val_loss", or "loss" when there is no validation data). */
  monitor?: string;
  /** Epochs without improvement before stopping (default 3). */
  patience?: number;
  minDelta?: number;
  mode?: Mode;
  /** Put back the weights of the best epoch when stopping or at the end (default false). */
  restoreBest?: boolean;
}

function defaultMonitor(logs: Logs, requested?: string): string {
  return requested ?? ("val_loss" in logs ? "val_loss" : "loss");
}

/** Stop when `monitor` has not improved for `patience` epochs; optionally restore the best weights. */
export function earlyStopping(options: EarlyStoppingOptions = {}): Callback {
  const patience = options.patience ?? 3;
  let monitor: Monitor | undefined;
  let wait = 0;
  let bestEpoch = 0;
  let bestWeights: tf.Tensor[] | undefined;
  const release = () => {
    if (bestWeights) tf.dispose(bestWeights);
    bestWeights = undefined;
  };
  return {
    onTrainBegin() {
      monitor = undefined;
      wait = 0;
      release();
    },
    onEpochEnd(epoch, logs, ctx) {
      monitor ??= new Monitor(defaultMonitor(logs, options.monitor), options.mode ?? "auto", options.minDelta ?? 0);
      const value = monitor.read(logs, ctx, "earlyStopping");
      if (value === undefined) return;
      if (monitor.improved(value)) {
        monitor.best = value;
        bestEpoch = epoch;
        wait = 0;
        if (options.restoreBest) {
          release();
          bestWeights = ctx.model.getWeights().map((w) => w.clone());
        }
      } else if (++wait >= patience) {
        ctx.stop(`early stopping: ${monitor.metric} has not improved for ${patience} epochs (best ${monitor.best.toFixed(4)} at epoch ${bestEpoch})`);
      }
    },
    onTrainEnd(ctx) {
      if (options.restoreBest && bestWeights && monitor) {
        ctx.model.setWeights(bestWeights);
        ctx.log(`earlyStopping: restored the weights of epoch ${bestEpoch} (${monitor.metric} ${monitor.best.toFixed(4)}).`);
      }
      release();
    },
  };
}

export interface CheckpointOptions {
  /** Folder to save into (model.json, weights.bin, optimizer state, state.json). */
  dir: string;
  /** Save only when `monitor` improves (default false: save after every epoch). */
  keepBest?: boolean;
  monitor?: string;
  mode?: Mode;
}

/** Save model, optimizer and training state to `dir` after each epoch (or only the best ones). */
export function checkpoint(options: CheckpointOptions): Callback {
  if (!options || typeof options.dir !== "string" || !options.dir) {
    throw new Error("checkpoint(): pass a folder, e.g. checkpoint({ dir: \"checkpoints/run1\" }).");
  }
  let monitor: Monitor | undefined;
  return {
    onTrainBegin() {
      monitor = undefined;
    },
    async onEpochEnd(epoch, logs, ctx) {
      if (ctx.batch < ctx.stepsPerEpoch) {
        // Stopped mid-epoch: these weights are not those of a whole epoch, and a resume would skip the rest of it.
        ctx.log(`checkpoint: epoch ${epoch} stopped after batch ${ctx.batch} of ${ctx.stepsPerEpoch}, so it was not saved; ${options.dir} keeps the last whole epoch.`);
        return;
      }
      if (options.keepBest) {
        monitor ??= new Monitor(defaultMonitor(logs, options.monitor), options.mode ?? "auto", 0);
        const value = monitor.read(logs, ctx, "checkpoint");
        if (value === undefined || !monitor.improved(value)) return;
        monitor.best = value;
      }
      // Everything a resume needs to be the same run: epochs done, the schedule's position, the shuffle seed.
      await save(options.dir, ctx.model, ctx.optimizer, {
        version: 1,
        epoch,
        globalStep: ctx.globalStep,
        seed: ctx.seed,
        lrScale: ctx.lrScale,
        history: ctx.history.metrics,
        epochs: ctx.history.epochs,
      });
    },
  };
}

export interface ReduceOnPlateauOptions {
  monitor?: string;
  /** Multiply the LR by this when stuck (default 0.1). */
  factor?: number;
  /** Epochs without improvement before reducing (default 2). */
  patience?: number;
  /** Never go below this LR (default 0). */
  minLr?: number;
  minDelta?: number;
  mode?: Mode;
}

/** Lower the learning rate by `factor` when `monitor` stops improving. */
export function reduceOnPlateau(options: ReduceOnPlateauOptions = {}): Callback {
  const factor = options.factor ?? 0.1;
  if (!(factor > 0 && factor < 1)) throw new Error(`reduceOnPlateau(): factor must be between 0 and 1; got ${factor}.`);
  const patience = options.patience ?? 2;
  let monitor: Monitor | undefined;
  let wait = 0;
  return {
    onTrainBegin() {
      monitor = undefined;
      wait = 0;
    },
    onEpochEnd(epoch, logs, ctx) {
      monitor ??= new Monitor(defaultMonitor(logs, options.monitor), options.mode ?? "auto", options.minDelta ?? 0);
      const value = monitor.read(logs, ctx, "reduceOnPlateau");
      if (value === undefined) return;
      if (monitor.improved(value)) {
        monitor.best = value;
        wait = 0;
      } else if (++wait >= patience) {
        const lr = ctx.optimizer.lr;
        const minLr = options.minLr ?? 0;
        if (lr * factor >= minLr) {
          ctx.lrScale *= factor;
          ctx.log(`reduceOnPlateau: ${monitor.metric} has not improved for ${patience} epochs; LR x${factor} (now about ${(lr * factor).toExponential(2)}).`);
        }
        wait = 0;
      }
    },
  };
}

/** A callback from plain functions: lambda({ onEpochEnd: (epoch, logs) => ... }). */
export function lambda(hooks: Callback): Callback {
  return hooks;
}

export interface WeightAverageOptions {
  /** Weight of the old average at each update (default 0.99). Early on it is min(decay, (1 + t) / (10 + t)) after t updates, so the first random weights fade fast. */
  decay?: number;
  /** Update the average every this many steps (default 1). */
  every?: number;
  /** Put the averaged weights into the model when training ends (default true). */
  apply?: boolean;
}

/**
 * An exponential moving average of the weights (and batch-norm running statistics) over the steps
 * of training, put into the model when training ends: the "weight averaging" of airbench and of
 * tf.keras's `use_ema`. Validation during training (and so history's val_ values) sees the live
 * weights; evaluate after training sees the average. `.average()` gives a copy of the average while
 * training runs. The average is not saved in checkpoints: a resumed run starts a new one.
 *
 *   const ema = lepton.callbacks.weightAverage({ decay: 0.98, every: 5 });
 *   await lepton.train(net, data, { epochs: 8, callbacks: [ema] });   // net now holds the average
 */
export function weightAverage(options: WeightAverageOptions = {}): Callback & { average(): tf.Tensor[] | undefined } {
  const decay = options.decay ?? 0.99;
  if (!(decay > 0 && decay < 1)) throw new Error(`weightAverage(): decay must be between 0 and 1, e.g. 0.99; got ${decay}.`);
  const every = options.every ?? 1;
  if (!Number.isInteger(every) || every < 1) throw new Error(`weightAverage(): every must be a whole number >= 1; got ${every}.`);
  let avg: tf.Variable[] | undefined;
  let updates = 0;
  let lastStep = 0;
  const update = (ctx: TrainContext) => {
    if (!avg) return;
    const d = Math.min(decay, (1 + updates) / (10 + updates));
    updates++;
    lastStep = ctx.globalStep;
    tf.tidy(() => {
      const now = ctx.model.getWeights();
      avg!.forEach((a, i) => a.assign(a.mul(d).add(now[i].toFloat().mul(1 - d)).cast(a.dtype)));
    });
  };
  return {
    // Last at the end of training, so the average is what the model holds even beside
    // earlyStopping({ restoreBest }) (which would otherwise put its best live weights back after it).
    order: 100,
    average: () => avg?.map((a) => a.clone()),
    onTrainBegin(ctx) {
      if (avg) tf.dispose(avg);
      // tf.variable shares the clone's data and adds a reference: the clone itself is freed at once.
      avg = ctx.model.getWeights().map((w) => tf.tidy(() => tf.variable(w.clone(), false)));
      updates = 0;
      lastStep = ctx.globalStep;
    },
    onBatchBegin(_batch, ctx) {
      // Read before the step (no device read): the average of the weights each step started from.
      if (ctx.globalStep > lastStep && ctx.globalStep % every === 0) update(ctx);
    },
    onTrainEnd(ctx) {
      if (!avg) return;
      // The steps since the last update (the last one's result included) enter once more.
      if (ctx.globalStep > lastStep) update(ctx);
      const finite = tf.tidy(() => avg!.every((a) => tf.isFinite(a).all().dataSync()[0] === 1));
      if (options.apply !== false && updates > 0 && finite) {
        ctx.model.setWeights(avg);
        ctx.log(`weightAverage: the model now holds the average of its weights over the last ~${Math.round(every / (1 - decay))} steps (${updates} updates)${ctx.stopReason ? `; training stopped early (${ctx.stopReason})` : ""}.`);
      } else if (!finite) {
        ctx.log("weightAverage: the averaged weights are not finite (the run diverged); the model keeps its last weights.", "warning");
      } else if (updates === 0) {
        ctx.log("weightAverage: no training step ran, so there is no average; the model keeps its weights.");
      }
      tf.dispose(avg);
      avg = undefined;
    },
  };
}
