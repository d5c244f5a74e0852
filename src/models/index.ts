/**
 * lepton.models: ready-made tfjs-layers networks for teaching and for CIFAR-10.
 *
 * Every classifier here outputs LOGITS (no softmax): lepton's train/evaluate/lrFind use a softmax
 * cross-entropy on logits, which is numerically stabler. Use `tf.softmax(model.predict(x))` for
 * probabilities.
 */
import * as tf from "@tensorflow/tfjs";
import { positiveInt, seededLayers } from "./util";

export type Activation = "linear" | "relu" | "sigmoid" | "tanh" | "softmax" | "elu" | "selu" | "softplus" | "swish";

export interface NeuronOptions {
  /** Number of inputs. */
  inputs: number;
  /** Activation of the single unit (default "linear"; "sigmoid" makes logistic regression). */
  activation?: Activation;
  name?: string;
  /** Seed for the initial weights (same seed, same network); random when omitted. */
  seed?: number;
}

/** One neuron: y = activation(w·x + b), input shape [inputs], output shape [1]. */
export function neuron(options: NeuronOptions): tf.LayersModel {
  if (!options || typeof options !== "object") throw new Error("neuron(): pass options, e.g. neuron({ inputs: 2, activation: \"sigmoid\" }).");
  positiveInt(options.inputs, "inputs", "neuron()");
  const init = seededLayers(options.seed, "neuron()");
  const model = tf.sequential({ name: options.name ?? "neuron" });
  model.add(tf.layers.dense({ units: 1, inputShape: [options.inputs], activation: options.activation ?? "linear", kernelInitializer: init().kernelInitializer }));
  return model;
}

export interface MlpOptions {
  /** Activation of the hidden layers (default "relu"). */
  activation?: Activation;
  /** Activation of the last layer (default "linear": logits). */
  outputActivation?: Activation;
  /** Dropout rate after each hidden layer (default 0: none). */
  dropout?: number;
  /** Batch normalisation after each hidden dense layer (default false). */
  batchNorm?: boolean;
  name?: string;
  /** Seed for the initial weights and the dropout masks (same seed, same network); random when omitted. */
  seed?: number;
}

/**
 * A multilayer perceptron. `sizes` = [inputs, hidden..., outputs], e.g. mlp([784, 128, 10]).
 * Inputs of more than one axis are flattened first when `sizes[0]` is an array: mlp([[28, 28, 1], 128, 10]).
 */
export function mlp(sizes: ReadonlyArray<number | readonly number[]>, options: MlpOptions = {}): tf.LayersModel {
  if (!Array.isArray(sizes) || sizes.length < 2) {
    throw new Error("mlp(): pass at least [inputs, outputs], e.g. mlp([784, 128, 10]).");
  }
  const [first, ...rest] = sizes;
  const inputShape = Array.isArray(first) ? [...first] : [first as number];
  inputShape.forEach((d) => positiveInt(d, "each input dimension", "mlp()"));
  rest.forEach((d) => {
    if (Array.isArray(d)) throw new Error("mlp(): only the first size may be a shape; the others are layer widths.");
    positiveInt(d as number, "each layer width", "mlp()");
  });
  const init = seededLayers(options.seed, "mlp()");
  const model = tf.sequential({ name: options.name ?? "mlp" });
  if (inputShape.length > 1) model.add(tf.layers.flatten({ inputShape }));
  rest.forEach((units, i) => {
    const last = i === rest.length - 1;
    const layerArgs: any = { units: units as number, kernelInitializer: init().kernelInitializer };
    if (i === 0 && inputShape.length === 1) layerArgs.inputShape = inputShape;
    if (last) {
      model.add(tf.layers.dense({ ...layerArgs, activation: options.outputActivation ?? "linear" }));
    } else {
      model.add(tf.layers.dense({ ...layerArgs, activation: options.batchNorm ? "linear" : options.activation ?? "relu" }));
      if (options.batchNorm) {
        model.add(tf.layers.batchNormalization());
        model.add(tf.layers.activation({ activation: options.activation ?? "relu" }));
      }
      if (options.dropout && options.dropout > 0) model.add(tf.layers.dropout({ rate: options.dropout, seed: init().seed }));
    }
  });
  return model;
}

export interface LenetOptions {
  /** Input shape (default [32, 32, 3], NHWC). */
  inputShape?: [number, number, number];
  /** Number of classes (default 10). */
  classes?: number;
  /** Seed for the initial weights (same seed, same network); random when omitted. */
  seed?: number;
}

/**
 * LeNet as in the PyTorch CIFAR-10 tutorial: conv 6@5x5 relu, max-pool 2, conv 16@5x5 relu,
 * max-pool 2, dense 120 relu, 84 relu, 10 logits. 62,006 parameters on 32x32x3 inputs.
 */
export function lenet(options: LenetOptions = {}): tf.LayersModel {
  const inputShape = options.inputShape ?? [32, 32, 3];
  const classes = options.classes ?? 10;
  positiveInt(classes, "classes", "lenet()");
  const next = seededLayers(options.seed, "lenet()");
  const init = () => ({ kernelInitializer: next().kernelInitializer });
  const model = tf.sequential({ name: "lenet" });
  model.add(tf.layers.conv2d({ inputShape, filters: 6, kernelSize: 5, activation: "relu", ...init() }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
  model.add(tf.layers.conv2d({ filters: 16, kernelSize: 5, activation: "relu", ...init() }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: 120, activation: "relu", ...init() }));
  model.add(tf.layers.dense({ units: 84, activation: "relu", ...init() }));
  model.add(tf.layers.dense({ units: classes, ...init() }));
  return model;
}

export interface ResnetOptions {
  /** Input shape (default [32, 32, 3]). */
  inputShape?: [number, number, number];
  classes?: number;
  /** Channels of the first block; later blocks use 2x, 4x, 8x (default 64, as in ResNet-9). */
  width?: number;
  /** Seed for the initial weights (same seed, same network); random when omitted. */
  seed?: number;
}

/**
 * A ResNet-9-style CIFAR network (the DAWNBench design): conv-BN-ReLU blocks, max pooling and two
 * residual blocks, global max pool, dense logits scaled by 0.125 (so a fresh network starts near ln(classes)). About 6.6M parameters at width 64; use width 16
 * or 32 for CPU experiments. Reaches ~90%+ on CIFAR-10 with crop/flip augmentation and one-cycle.
 */
export function resnet9(options: ResnetOptions = {}): tf.LayersModel {
  const inputShape = options.inputShape ?? [32, 32, 3];
  const classes = options.classes ?? 10;
  const w = options.width ?? 64;
  positiveInt(w, "width", "resnet9()");
  positiveInt(classes, "classes", "resnet9()");
  const next = seededLayers(options.seed, "resnet9()");
  let n = 0;
  const convBn = (x: tf.SymbolicTensor, filters: number, pool = false): tf.SymbolicTensor => {
    n++;
    let y = tf.layers.conv2d({ filters, kernelSize: 3, padding: "same", useBias: false, name: `conv${n}`, kernelInitializer: next().kernelInitializer }).apply(x) as tf.SymbolicTensor;
    y = tf.layers.batchNormalization({ momentum: 0.9, name: `bn${n}` }).apply(y) as tf.SymbolicTensor;
    y = tf.layers.reLU({ name: `relu${n}` }).apply(y) as tf.SymbolicTensor;
    if (pool) y = tf.layers.maxPooling2d({ poolSize: 2, name: `pool${n}` }).apply(y) as tf.SymbolicTensor;
    return y;
  };
  const residual = (x: tf.SymbolicTensor, filters: number): tf.SymbolicTensor => {
    const y = convBn(convBn(x, filters), filters);
    return tf.layers.add({ name: `res${n}` }).apply([x, y]) as tf.SymbolicTensor;
  };
  const input = tf.input({ shape: inputShape, name: "image" });
  let x = convBn(input, w);
  x = convBn(x, 2 * w, true);
  x = residual(x, 2 * w);
  x = convBn(x, 4 * w, true);
  x = convBn(x, 8 * w, true);
  x = residual(x, 8 * w);
  // Global max pooling, written as one max pool over the whole remaining map: its gradient runs on
  // lepton's MaxPoolGrad kernel instead of tfjs's broadcast compare (~17 ms per batch of 64 on wasm).
  const [h, w2] = x.shape.slice(1, 3) as [number, number];
  x = tf.layers.maxPooling2d({ poolSize: [h, w2], name: "gpool" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten({ name: "flatten" }).apply(x) as tf.SymbolicTensor;
  const dense = tf.layers.dense({ units: classes, name: "dense", kernelInitializer: next().kernelInitializer }).apply(x) as tf.SymbolicTensor;
  // The DAWNBench design scales the logits by 1/8: the global max pool of a fresh network gives large
  // features, and unscaled logits start training at a loss of about 6 instead of ln(classes) = 2.30.
  const out = tf.layers.rescaling({ scale: 0.125, name: "logits" }).apply(dense) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: `resnet9_w${w}` });
}

/** Total number of parameters (trainable and not) of a model. */
export function countParams(model: tf.LayersModel): number {
  return model.countParams();
}

export { airbench, whiten, symmetricEigen, WHITEN_LAYER } from "./airbench";
export type { AirbenchOptions, WhitenOptions } from "./airbench";
