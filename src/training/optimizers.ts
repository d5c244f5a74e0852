/**
 * Optimizers by name (SGD with momentum / Nesterov, Adam, AdamW) with a learning rate that can be
 * changed every batch and weight decay (L2 added to the gradient for SGD and Adam, decoupled for AdamW).
 */
import * as tf from "@tensorflow/tfjs";
import { checkOptionNames } from "../util/options";

/** A tensor with a name (optimizer state). */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

export type OptimizerName = "sgd" | "adam" | "adamw";

export interface OptimizerSpec {
  type: OptimizerName;
  /** Learning rate (default 0.01 for SGD, 0.001 for Adam/AdamW). */
  lr?: number;
  /** SGD momentum (default 0: plain SGD). */
  momentum?: number;
  /** Nesterov momentum for SGD (default false). */
  nesterov?: boolean;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Weight decay: L2 (coupled) for sgd/adam, decoupled for adamw (default 0, 0.01 for adamw). */
  weightDecay?: number;
}

const OPTIMIZER_SPEC_KEYS = ["type", "lr", "momentum", "nesterov", "beta1", "beta2", "epsilon", "weightDecay"];

/** A tfjs optimizer with its spec, a settable learning rate and weight decay. */
export class Optimizer {
  private inner!: tf.Optimizer;
  readonly spec: Required<Pick<OptimizerSpec, "type" | "lr" | "weightDecay">> & OptimizerSpec;
  private currentLr: number;
  private base: number;
  /** A user's tf optimizer (fromTf): its state is theirs, so it is never disposed or rebuilt here. */
  private borrowed = false;

  constructor(spec: OptimizerSpec | OptimizerName) {
    const s: OptimizerSpec = typeof spec === "string" ? { type: spec } : { ...spec };
    const type = s.type;
    if (!["sgd", "adam", "adamw"].includes(type)) {
      throw new Error(`optimizer: unknown type "${type}"; use "sgd", "adam" or "adamw" (e.g. { type: "sgd", lr: 0.01, momentum: 0.9 }).`);
    }
    const lr = s.lr ?? (type === "sgd" ? 0.01 : 0.001);
    if (!(lr > 0) || !Number.isFinite(lr)) throw new Error(`optimizer: lr must be a positive number; got ${s.lr}.`);
    const weightDecay = s.weightDecay ?? (type === "adamw" ? 0.01 : 0);
    if (!(weightDecay >= 0)) throw new Error(`optimizer: weightDecay must be >= 0; got ${s.weightDecay}.`);
    this.spec = { ...s, type, lr, weightDecay };
    this.currentLr = lr;
    this.base = lr;
    const m = s.momentum ?? 0;
    if (!(m >= 0 && m < 1)) throw new Error(`optimizer: momentum must be in [0, 1); got ${m}.`);
    for (const [k, v] of [["beta1", s.beta1], ["beta2", s.beta2]] as const) {
      if (v !== undefined && !(v >= 0 && v < 1)) throw new Error(`optimizer: ${k} must be in [0, 1); got ${v}.`);
    }
    if (s.epsilon !== undefined && !(s.epsilon > 0 && Number.isFinite(s.epsilon))) throw new Error(`optimizer: epsilon must be a positive number; got ${s.epsilon}.`);
    this.build();
  }

  /** The underlying tfjs optimizer. */
  get tf(): tf.Optimizer {
    return this.inner;
  }

  private build(): void {
    const s = this.spec;
    const lr = this.currentLr;
    if (s.type === "sgd") {
      const m = s.momentum ?? 0;
      this.inner = m > 0 || s.nesterov ? tf.train.momentum(lr, m, s.nesterov ?? false) : tf.train.sgd(lr);
    } else {
      this.inner = tf.train.adam(lr, s.beta1 ?? 0.9, s.beta2 ?? 0.999, s.epsilon ?? 1e-8);
    }
  }

  /** Forget all state (moments, iteration count), as if new. */
  reset(): void {
    if (this.borrowed) {
      throw new Error("optimizer: this wraps your own tf.train optimizer, whose state lepton does not reset; make a new one (tf.train.adam(...)) or pass a spec such as { type: \"adam\" }.");
    }
    this.dispose();
    this.build();
  }

  /** True when this wraps a tf optimizer the caller made (Optimizer.fromTf). */
  get isBorrowed(): boolean {
    return this.borrowed;
  }

  /** A new optimizer with the same spec and learning rates and no state (the caller disposes it). */
  copySpec(): Optimizer {
    const o = new Optimizer(this.spec);
    o.base = this.base;
    o.setStepLr(this.currentLr);
    return o;
  }

  /** The LR of the latest step (a schedule changes it every batch). */
  get lr(): number {
    return this.currentLr;
  }

  /** The LR you asked for (spec or setLr): the base or peak that train()'s schedules start from. */
  get baseLr(): number {
    return this.base;
  }

  /** Set the learning rate: the base for later train() calls and the rate of the next step. */
  setLr(lr: number): void {
    if (!(lr > 0) || !Number.isFinite(lr)) throw new Error(`optimizer.setLr: lr must be a positive number; got ${lr}.`);
    this.base = lr;
    this.setStepLr(lr);
  }

  /** Set the rate of the next step only, keeping baseLr (schedules and lrFind use this every batch). */
  setStepLr(lr: number): void {
    if (lr === this.currentLr) return;
    this.currentLr = lr;
    const o = this.inner as any;
    if (typeof o.setLearningRate === "function") o.setLearningRate(lr);
    else o.learningRate = lr;
  }

  /**
   * One update from gradients (keys: variable names, in `vars` order). Coupled weight decay adds
   * wd·w to the gradient; AdamW shrinks weights by lr·wd before the Adam step. Decay applies to
   * kernels only (rank ≥ 2), not to biases or batch-norm parameters.
   */
  apply(grads: tf.NamedTensorMap, vars: tf.Variable[]): void {
    const wd = this.spec.weightDecay;
    const decoupled = this.spec.type === "adamw";
    tf.tidy(() => {
      const ordered: tf.NamedTensorMap = {};
      for (const v of vars) {
        let g = grads[v.name];
        if (!g) continue;
        if (wd > 0 && !decoupled && v.rank >= 2) g = g.add(v.mul(wd));
        ordered[v.name] = g;
      }
      if (wd > 0 && decoupled) {
        // As PyTorch's AdamW: w ← w·(1 − lr·wd), then the Adam step from gradients taken at the old w.
        const shrink = 1 - this.currentLr * wd;
        for (const v of vars) if (v.rank >= 2 && grads[v.name]) v.assign(v.mul(shrink));
      }
      this.inner.applyGradients(ordered);
    });
  }

  /** Optimizer state (moments, iteration count) as named tensors; the caller disposes them. */
  async getWeights(): Promise<NamedTensor[]> {
    const w = await this.inner.getWeights();
    const out = w.map((t) => ({ name: t.name, tensor: t.tensor.clone() }));
    // The first entry ("iter") is a new tensor made by tfjs; the rest are its live state variables.
    if (w.length && w[0].name === "iter") w[0].tensor.dispose();
    return out;
  }

  /** Restore state saved with getWeights (the tensors are copied; the caller still owns them). */
  async setWeights(weights: NamedTensor[]): Promise<void> {
    // Variables made from these tensors share their (reference-counted) data, so the caller may dispose them.
    // tfjs replaces its state variables without freeing the old ones: start from a fresh optimizer.
    this.reset();
    if (weights.length > 0) await this.inner.setWeights(weights);
  }

  /**
   * Wrap a tfjs optimizer (a compiled model's, or tf.train.sgd/momentum/adam(...)) so that training
   * continues its state, as Keras's fit continues the compiled optimizer's.
   */
  static fromTf(raw: tf.Optimizer, lr?: number, weightDecay?: number): Optimizer {
    const name = typeof (raw as any).getClassName === "function" ? (raw as any).getClassName() : String((raw as any).constructor?.name);
    const c = (typeof (raw as any).getConfig === "function" ? (raw as any).getConfig() : {}) as Record<string, any>;
    let spec: OptimizerSpec;
    if (name === "SGD") spec = { type: "sgd", lr: c.learningRate };
    else if (name === "Momentum") spec = { type: "sgd", lr: c.learningRate, momentum: c.momentum, nesterov: !!c.useNesterov };
    else if (name === "Adam") spec = { type: "adam", lr: c.learningRate, beta1: c.beta1, beta2: c.beta2, epsilon: c.epsilon };
    else {
      throw new Error(
        `optimizer: lepton trains with SGD (with or without momentum), Adam and AdamW; this is tfjs's ${name}. ` +
          `Pass optimizer: "adam" (or { type: "sgd", lr: 0.01, momentum: 0.9 }) to train(), or compile the model with tf.train.adam(...).`,
      );
    }
    if (weightDecay !== undefined) spec.weightDecay = weightDecay;
    const o = new Optimizer(spec);
    o.inner.dispose();
    o.inner = raw;
    o.borrowed = true;
    if (lr !== undefined) o.setLr(lr);
    return o;
  }

  dispose(): void {
    if (this.borrowed) return;
    this.inner.dispose();
    // tfjs's MomentumOptimizer.dispose forgets its learning-rate scalar; disposing twice is harmless.
    (this.inner as any).c?.dispose?.();
  }
}

/** An Optimizer from a spec, a name, or an existing Optimizer (returned as is). */
export function makeOptimizer(spec: OptimizerSpec | OptimizerName | Optimizer | undefined, lr?: number, weightDecay?: number): Optimizer {
  if (spec instanceof Optimizer) {
    if (weightDecay !== undefined && weightDecay !== spec.spec.weightDecay) {
      throw new Error(`optimizer: weightDecay ${weightDecay} cannot be changed on an existing optimizer (it has ${spec.spec.weightDecay}); make it with lepton.optimizer({ type: "${spec.spec.type}", weightDecay: ${weightDecay} }).`);
    }
    if (lr !== undefined) spec.setStepLr(lr);
    return spec;
  }
  // A raw tf.train optimizer: wrapped, so its state carries on (not disposed by train()).
  if (spec && typeof spec === "object" && "applyGradients" in (spec as any)) return Optimizer.fromTf(spec as unknown as tf.Optimizer, lr, weightDecay);
  if (spec && typeof spec === "object") checkOptionNames(spec, OPTIMIZER_SPEC_KEYS, "optimizer");
  const s: OptimizerSpec = spec === undefined ? { type: "sgd" } : typeof spec === "string" ? { type: spec } : { ...spec };
  if (lr !== undefined) s.lr = lr;
  if (weightDecay !== undefined) s.weightDecay = weightDecay;
  return new Optimizer(s);
}

/**
 * How an optimizer keeps its state, which decides whether saved state can be loaded into it:
 * "sgd" (plain: the iteration count only), "momentum" (SGD with momentum or Nesterov: one
 * `<weight>/momentum` tensor per weight), "adam" and "adamw" (`<weight>/m` for every weight, then
 * `<weight>/v` for every weight). Adam and AdamW lay out the same tensors but are different runs.
 */
export type OptimizerStateKind = "sgd" | "momentum" | "adam" | "adamw";

export function optimizerStateKind(spec: Pick<OptimizerSpec, "type" | "momentum" | "nesterov">): OptimizerStateKind {
  if (spec.type === "sgd") return (spec.momentum ?? 0) > 0 || spec.nesterov ? "momentum" : "sgd";
  return spec.type;
}

/** The optimizer in words, for messages: `adam`, `sgd with momentum 0.9`, `plain sgd (no momentum)`. */
export function describeOptimizer(spec: Pick<OptimizerSpec, "type" | "momentum" | "nesterov">): string {
  const kind = optimizerStateKind(spec);
  if (kind === "sgd") return "plain sgd (no momentum)";
  if (kind === "momentum") return `sgd with ${spec.nesterov ? "Nesterov " : ""}momentum ${spec.momentum ?? 0}`;
  return kind;
}
