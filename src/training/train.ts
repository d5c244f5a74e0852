/**
 * train(model, data, options): mini-batch training with per-batch LR schedules, validation,
 * callbacks, interrupt/NaN handling, checkpoint resume, and live progress in the notebook.
 */
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { ready } from "../backend";
import { interruptRequested } from "../runtime/interrupt";
import type { Dataset } from "../data/types";
import { History } from "./history";
import { makeOptimizer, Optimizer, type OptimizerName, type OptimizerSpec } from "./optimizers";
import { makeSchedule, type ScheduleSpec } from "./schedules";
import { classLogits, meanSquaredError, outputKind, perSampleCrossEntropy } from "./losses";
import { checkFits, isClassification, toDataset, type DataInput } from "./inputs";
import { ProgressView, type Verbosity } from "./progress";
import type { Callback, Logs, TrainContext } from "./callbacks";
import { loadOptimizerState, loadWeightsInto } from "./checkpoint_io";

export interface TrainOptions {
  /** Epochs to train to (default 1). With resumeFrom/initialEpoch, the total including earlier ones. */
  epochs?: number;
  /** Samples per batch (default 32). */
  batchSize?: number;
  /** "sgd" | "adam" | "adamw", a spec ({ type: "sgd", lr: 0.01, momentum: 0.9, nesterov: true }), or lepton's Optimizer to keep its state between calls. Default: SGD. */
  optimizer?: OptimizerSpec | OptimizerName | Optimizer;
  /** Learning rate (overrides the optimizer spec's lr; the peak LR for "onecycle"). */
  lr?: number;
  /** Weight decay (overrides the optimizer spec's). */
  weightDecay?: number;
  /** Label smoothing for classification, e.g. 0.1 (default 0). */
  labelSmoothing?: number;
  /** LR schedule, changed every batch (default "constant"). */
  schedule?: ScheduleSpec;
  /** Clip the global gradient norm to this value (default: no clipping). */
  clipNorm?: number;
  /** Data to evaluate after each epoch. */
  validationData?: DataInput;
  /** Hold out this fraction of the training data for validation instead (seeded split). */
  validationSplit?: number;
  /** Shuffle each epoch (default true). */
  shuffle?: boolean;
  /** Seed for shuffling and the validation split (default: random shuffles). */
  seed?: number;
  callbacks?: Callback[];
  /** 0 silent, 1 (default) progress, 2 also per-epoch lines in notebooks. */
  verbose?: Verbosity;
  /** Continue from a checkpoint folder (weights, optimizer state, epochs done). */
  resumeFrom?: string;
  /** Epochs already done (when continuing with lepton.load()'s model and optimizer). */
  initialEpoch?: number;
}

/** A training stop caused by a NaN or infinite loss. */
export class NonFiniteLossError extends Error {
  constructor(message: string, readonly epoch: number, readonly batch: number) {
    super(message);
    this.name = "NonFiniteLossError";
  }
}

interface Pending {
  loss: tf.Scalar;
  correct?: tf.Scalar;
  n: number;
  epoch: number;
  batch: number;
  lr: number;
}

function checkNumber(v: number | undefined, name: string, test: (v: number) => boolean, hint: string): void {
  if (v !== undefined && !(typeof v === "number" && test(v))) throw new Error(`train(): ${name} must be ${hint}; got ${v}.`);
}

/**
 * Train `model` on `data` and return the History (displayable: plots loss/accuracy).
 *
 *   const history = await lepton.train(model, cifar.train, {
 *     epochs: 2, batchSize: 64, optimizer: { type: "sgd", lr: 0.01, momentum: 0.9 }, validationData: cifar.test });
 */
export async function train(model: tf.LayersModel, data: DataInput, options: TrainOptions = {}): Promise<History> {
  await ready();
  const opts = options ?? {};
  checkNumber(opts.epochs, "epochs", (v) => Number.isInteger(v) && v >= 1, "a whole number >= 1");
  checkNumber(opts.batchSize, "batchSize", (v) => Number.isInteger(v) && v >= 1, "a whole number >= 1");
  checkNumber(opts.labelSmoothing, "labelSmoothing", (v) => v >= 0 && v < 1, "in [0, 1)");
  checkNumber(opts.validationSplit, "validationSplit", (v) => v > 0 && v < 1, "between 0 and 1");
  checkNumber(opts.clipNorm, "clipNorm", (v) => v > 0, "> 0");
  const epochs = opts.epochs ?? 1;
  const batchSize = opts.batchSize ?? 32;
  const eps = opts.labelSmoothing ?? 0;
  const verbose: Verbosity = opts.verbose ?? 1;

  let trainDs = toDataset(data, "train()", "data");
  let valDs: Dataset | undefined = opts.validationData ? toDataset(opts.validationData, "train()", "validationData") : undefined;
  if (opts.validationSplit) {
    if (valDs) throw new Error("train(): pass validationData or validationSplit, not both.");
    [trainDs, valDs] = trainDs.split(1 - opts.validationSplit, { seed: opts.seed ?? 0 });
  }
  if (trainDs.size === 0) throw new Error("train(): the training data is empty.");
  checkFits(model, trainDs, "train()");
  if (valDs) checkFits(model, valDs, "train() validationData");
  const classification = isClassification(trainDs);
  const kind = outputKind(model);

  const ownsOptimizer = !(opts.optimizer instanceof Optimizer);
  const optimizer = makeOptimizer(opts.optimizer, opts.lr, opts.weightDecay);
  const history = new History();
  let startEpoch = opts.initialEpoch ?? 0;
  if (opts.resumeFrom) {
    const dir = path.resolve(opts.resumeFrom);
    if (!fs.existsSync(path.join(dir, "model.json"))) {
      throw new Error(`train(): resumeFrom folder ${dir} has no checkpoint (model.json); save one with lepton.callbacks.checkpoint({ dir }) or lepton.save().`);
    }
    await loadWeightsInto(dir, model);
    await loadOptimizerState(dir, optimizer);
    const statePath = path.join(dir, "state.json");
    if (fs.existsSync(statePath)) {
      const state = JSON.parse(fs.readFileSync(statePath, "utf8"));
      startEpoch = state.epoch ?? 0;
      const eps0: number[] = state.epochs ?? [];
      eps0.forEach((e, i) => {
        const logs: Logs = {};
        for (const [k, v] of Object.entries(state.history ?? {})) logs[k] = (v as number[])[i];
        history.record(e, logs);
      });
    }
  }

  const stepsPerEpoch = Math.ceil(trainDs.size / batchSize);
  // The schedule starts from the LR asked for (opts.lr, the spec's, or setLr's), not from wherever an
  // earlier run's schedule left a reused optimizer.
  const lrAt = makeSchedule(opts.schedule, opts.lr ?? optimizer.baseLr, stepsPerEpoch, epochs);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const callbacks = opts.callbacks ?? [];
  const readEveryBatch = callbacks.some((c) => typeof c.onBatchEnd === "function");
  const view = new ProgressView(verbose, epochs, stepsPerEpoch, classification);

  let stopReason: string | undefined;
  const ctx: TrainContext = {
    model,
    optimizer,
    history,
    epochs,
    stepsPerEpoch,
    stop(reason: string) {
      if (!stopReason) stopReason = reason;
    },
    get stopRequested() {
      return stopReason !== undefined;
    },
    lrScale: 1,
    log: (m) => view.message(m),
  };

  const step = (x: tf.Tensor, y: tf.Tensor): { loss: tf.Scalar; correct?: tf.Scalar } => {
    let correct: tf.Scalar | undefined;
    const loss = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        const out = model.apply(x, { training: true }) as tf.Tensor;
        if (!classification) return meanSquaredError(out, y);
        const logits = classLogits(out, kind);
        correct = tf.keep(tf.equal(logits.argMax(-1), y.toInt()).toFloat().sum() as tf.Scalar);
        return perSampleCrossEntropy(logits, y, eps).mean() as tf.Scalar;
      }, vars);
      let g = grads;
      if (opts.clipNorm) {
        const names = Object.keys(grads);
        const norm = tf.sqrt(tf.addN(names.map((n) => grads[n].square().sum())));
        const scale = tf.minimum(1, tf.div(opts.clipNorm, norm.add(1e-12)));
        g = {};
        for (const n of names) g[n] = grads[n].mul(scale);
      }
      optimizer.apply(g, vars);
      return value;
    });
    return { loss, correct };
  };

  const t0 = Date.now();
  let smooth = 0;
  let smoothCount = 0;
  let globalStep = startEpoch * stepsPerEpoch;
  let nonFinite: string | undefined;
  if (startEpoch >= epochs) view.message(`Already trained ${startEpoch} epochs (epochs: ${epochs}); nothing to do. Pass a larger epochs to continue.`);

  try {
    for (const c of callbacks) await c.onTrainBegin?.(ctx);
    for (let epoch = startEpoch + 1; epoch <= epochs && !stopReason; epoch++) {
      for (const c of callbacks) await c.onEpochBegin?.(epoch, ctx);
      const epochStart = Date.now();
      let lastRead = Date.now();
      let pending: Pending[] = [];
      let lossSum = 0;
      let correctSum = 0;
      let seen = 0;
      let batchNo = 0;

      // Read the losses of the batches since the last read (one device sync), check them, update stats.
      const flush = async (): Promise<void> => {
        if (pending.length === 0) return;
        const batch = pending;
        pending = [];
        const losses = tf.stack(batch.map((p) => p.loss));
        const lv = await losses.data();
        let cv: Float32Array | Int32Array | Uint8Array | undefined;
        if (classification) {
          const cs = tf.stack(batch.map((p) => p.correct!));
          cv = (await cs.data()) as Float32Array;
          cs.dispose();
        }
        losses.dispose();
        for (const p of batch) tf.dispose([p.loss, p.correct as tf.Tensor]);
        for (let i = 0; i < batch.length; i++) {
          const p = batch[i];
          const l = lv[i];
          if (!Number.isFinite(l)) {
            nonFinite =
              `Loss became ${Number.isNaN(l) ? "NaN" : "infinite"} at epoch ${p.epoch}, batch ${p.batch} of ${stepsPerEpoch} (lr ${p.lr.toExponential(2)}). ` +
              `Training stopped; the weights are probably unusable now. Try a lower learning rate (e.g. lr/10, or find one with lepton.lrFind), ` +
              `normalise the inputs (scale to [0, 1] or mean 0 / std 1), or clip gradients (clipNorm: 1).`;
            throw new NonFiniteLossError(nonFinite, p.epoch, p.batch);
          }
          lossSum += l * p.n;
          if (cv) correctSum += cv[i];
          seen += p.n;
          smoothCount++;
          smooth = 0.98 * smooth + 0.02 * l;
          for (const c of callbacks) await c.onBatchEnd?.(p.batch, { loss: l, lr: p.lr, epoch: p.epoch, size: p.n }, ctx);
        }
        lastRead = Date.now();
      };

      try {
        for await (const b of trainDs.batches({ batchSize, shuffle: opts.shuffle ?? true, seed: opts.seed === undefined ? undefined : opts.seed + epoch })) {
          if (interruptRequested()) {
            tf.dispose([b.x, b.y]);
            await flush();
            history.interrupted = true;
            ctx.stop(`interrupted at epoch ${epoch}, batch ${batchNo} of ${stepsPerEpoch}`);
            break;
          }
          batchNo++;
          const lr = lrAt(globalStep) * ctx.lrScale;
          optimizer.setStepLr(lr);
          let out: { loss: tf.Scalar; correct?: tf.Scalar };
          try {
            out = step(b.x, b.y);
          } finally {
            tf.dispose([b.x, b.y]);
          }
          pending.push({ loss: out.loss, correct: out.correct, n: b.x.shape[0], epoch, batch: batchNo, lr });
          globalStep++;
          if (readEveryBatch || Date.now() - lastRead >= 250 || pending.length >= 64) {
            await flush();
            const elapsed = (Date.now() - epochStart) / 1000;
            const sps = seen / Math.max(elapsed, 1e-6);
            const eta = (stepsPerEpoch - batchNo) * (elapsed / batchNo);
            view.batch(epoch, batchNo, sps, eta, smooth / (1 - Math.pow(0.98, smoothCount)), lr);
          }
          if (stopReason) break;
        }
        await flush();
      } finally {
        for (const p of pending) tf.dispose([p.loss, p.correct as tf.Tensor]);
        pending = [];
      }
      if (history.interrupted) break;
      if (seen === 0) break;

      const logs: Logs = { loss: lossSum / seen };
      if (classification) logs.accuracy = correctSum / seen;
      if (valDs) {
        const v = await lossAndAccuracy(model, valDs, batchSize, classification);
        logs.val_loss = v.loss;
        if (classification) logs.val_accuracy = v.accuracy;
      }
      logs.lr = optimizer.lr;
      logs.time_s = (Date.now() - epochStart) / 1000;
      history.record(epoch, logs);
      view.epochEnd(epoch, logs);
      for (const c of callbacks) await c.onEpochEnd?.(epoch, logs, ctx);
      if (interruptRequested() && !stopReason) {
        history.interrupted = true;
        ctx.stop(`interrupted after epoch ${epoch}`);
      }
    }
  } catch (err) {
    if (!(err instanceof NonFiniteLossError)) {
      view.close();
      if (ownsOptimizer) optimizer.dispose();
      throw err;
    }
    stopReason = err.message;
  } finally {
    for (const c of callbacks) {
      try {
        await c.onTrainEnd?.(ctx);
      } catch (e) {
        view.message(`callback onTrainEnd failed: ${(e as Error).message}`);
      }
    }
  }
  if (stopReason) {
    history.stopReason = stopReason;
    if (history.interrupted) {
      view.message(`Training interrupted (${stopReason}). The model keeps its weights from the last completed batch; the history holds ${history.epochs.length} completed epoch(s).`);
    } else if (nonFinite) {
      view.message(nonFinite);
    } else {
      view.message(`Training stopped: ${stopReason}.`);
    }
  }
  view.close();
  if (ownsOptimizer) optimizer.dispose();
  (history as any).seconds = (Date.now() - t0) / 1000;
  return history;
}

/** Mean loss and accuracy of `model` over `ds` (inference mode, no gradients). */
export async function lossAndAccuracy(model: tf.LayersModel, ds: Dataset, batchSize: number, classification: boolean): Promise<{ loss: number; accuracy: number }> {
  let loss = 0;
  let correct = 0;
  let n = 0;
  const kind = outputKind(model);
  for await (const b of ds.batches({ batchSize, shuffle: false })) {
    const [l, c] = tf.tidy(() => {
      const out = model.apply(b.x, { training: false }) as tf.Tensor;
      if (!classification) return [meanSquaredError(out, b.y).mul(b.x.shape[0]), tf.scalar(0)];
      const logits = classLogits(out, kind);
      return [perSampleCrossEntropy(logits, b.y).sum(), tf.equal(logits.argMax(-1), b.y.toInt()).toFloat().sum()];
    });
    const stacked = tf.stack([l, c]);
    const vals = await stacked.data();
    tf.dispose([stacked, l, c, b.x, b.y]);
    loss += vals[0];
    correct += vals[1];
    n += b.x.shape[0];
  }
  return { loss: loss / Math.max(n, 1), accuracy: correct / Math.max(n, 1) };
}

/**
 * fastai-style one-cycle training: train() with schedule "onecycle" peaking at `maxLr`.
 *
 *   await lepton.fitOneCycle(model, data, { epochs: 5, maxLr: 0.01 });
 */
export async function fitOneCycle(model: tf.LayersModel, data: DataInput, options: TrainOptions & { maxLr?: number } = {}): Promise<History> {
  const { maxLr, ...rest } = options;
  return train(model, data, {
    optimizer: { type: "adamw" },
    ...rest,
    ...(maxLr !== undefined ? { lr: maxLr } : {}),
    schedule: { type: "onecycle", ...(typeof rest.schedule === "object" && rest.schedule.type === "onecycle" ? rest.schedule : {}) },
  });
}
