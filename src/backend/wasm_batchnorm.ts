/**
 * Batch normalisation in training as two kernels on the wasm backend, with lepton's SIMD passes
 * (native/lepton_kernels.c), instead of the ~25 small tensor ops TensorFlow.js records for it.
 *
 * A tfjs-layers BatchNormalization layer in training computes tf.moments (Mean, Sub, Square, Mean) and
 * tf.batchNorm, and its gradient is the chain of those ops' gradients: about ten full-size multiplies, five
 * full-size sums and as many subtractions and tiles per layer and step. Here, when the backend is wasm and
 * lepton's kernels run there, the layer's training call becomes one custom op:
 *   forward  LeptonBatchNormTraining: mean (one pass), variance (a second pass, of (x - mean)^2, as
 *            tf.moments does), y = (x - mean) * gamma / sqrt(variance + epsilon) + beta (a third);
 *   backward LeptonBatchNormTrainingGrad: sum(dy) and sum(dy * (x - mean)) per channel (one pass), then
 *            dx = a * dy + b * (x - mean) + e per channel (a second), the same function's exact gradient:
 *            with N values per channel and s = 1 / sqrt(variance + epsilon),
 *            dx = gamma * s / N * (N * dy - sum(dy) - (x - mean) * s^2 * sum(dy * (x - mean))),
 *            dgamma = s * sum(dy * (x - mean)), dbeta = sum(dy).
 * The moving mean and variance are updated as the layer does. Anything else (another backend, an axis
 * other than the last, center or scale off, another dtype, inference, LEPTON_NATIVE_KERNELS=0, and a
 * gradient of a gradient: the fused backward has no gradient of its own) runs the layer's own call.
 * Checked against the pure-JS backend in test/backend_native_kernels.test.ts.
 */
import * as tf from "@tensorflow/tfjs";
import type { Backend, TensorInfo } from "./wasm_kernels";
import { nativeKernels, pointer, runSplitPass, type NativeExports } from "./wasm_native";
import { SPLIT_OPS } from "./wasm_native_pool";

const FORWARD = "LeptonBatchNormTraining";
const BACKWARD = "LeptonBatchNormTrainingGrad";

const size = tf.util.sizeFromShape;

type KernelArgs = { inputs: Record<string, TensorInfo>; backend: Backend; attrs?: Record<string, any> };

/** lepton's kernels here, whatever LEPTON_NATIVE_KERNELS says now: the op was chosen when its forward started. */
function kernels(backend: Backend): NativeExports {
  const native = nativeKernels(backend, { ignoreSwitch: true });
  if (!native) throw new Error("lepton: the fused batch-norm kernels lost their WebAssembly module");
  return native;
}

/** Inputs x [..., C], gamma [C], beta [C]; outputs y, mean [C], variance [C], 1 / sqrt(variance + epsilon) [C]. */
function forward({ inputs, backend, attrs }: KernelArgs): TensorInfo[] {
  const { x, gamma, beta } = inputs;
  const native = kernels(backend);
  const c = x.shape[x.shape.length - 1];
  const rows = size(x.shape) / c;
  const eps = attrs!.epsilon as number;
  const y = backend.makeOutput([...x.shape], "float32");
  const mean = backend.makeOutput([c], "float32");
  const variance = backend.makeOutput([c], "float32");
  const invStd = backend.makeOutput([c], "float32");
  const scratch = backend.makeOutput([3 * c], "float32");
  try {
    const tmp = pointer(backend, scratch);
    native.channel_sum(pointer(backend, x), rows, c, pointer(backend, mean), tmp, 1 / rows);
    native.channel_sq_dev_sum(pointer(backend, x), pointer(backend, mean), rows, c, pointer(backend, variance), tmp);
    const v = backend.typedArrayFromHeap(variance);
    const s = backend.typedArrayFromHeap(invStd);
    const g = backend.typedArrayFromHeap(gamma);
    const k = backend.typedArrayFromHeap(scratch).subarray(2 * c, 3 * c);
    for (let ch = 0; ch < c; ch++) {
      v[ch] = v[ch] / rows;
      s[ch] = 1 / Math.sqrt(v[ch] + eps);
      k[ch] = g[ch] * s[ch];
    }
    runSplitPass(backend, native, rows, 2 * rows * c, [SPLIT_OPS.channelAffine, rows, pointer(backend, x), c, pointer(backend, mean), tmp + 8 * c, pointer(backend, beta), pointer(backend, y)]);
  } finally {
    backend.disposeData(scratch.dataId);
  }
  return [y, mean, variance, invStd];
}

/** Inputs dy, x, gamma, mean, invStd (as forward made them); outputs dx, dgamma, dbeta. */
function backward({ inputs, backend }: KernelArgs): TensorInfo[] {
  const { dy, x, gamma, mean, invStd } = inputs;
  const native = kernels(backend);
  const c = x.shape[x.shape.length - 1];
  const rows = size(x.shape) / c;
  const dx = backend.makeOutput([...x.shape], "float32");
  const dgamma = backend.makeOutput([c], "float32");
  const dbeta = backend.makeOutput([c], "float32");
  const scratch = backend.makeOutput([4 * c], "float32");
  try {
    const at = pointer(backend, scratch);
    // sum(dy * (x - mean)) into dgamma (scaled below), sum(dy) into dbeta; scratch as their temporaries.
    native.bn_backward_sums(pointer(backend, dy), pointer(backend, x), pointer(backend, mean), rows, c, pointer(backend, dbeta), pointer(backend, dgamma), at);
    const sdy = backend.typedArrayFromHeap(dbeta);
    const sdyx = backend.typedArrayFromHeap(dgamma);
    const s = backend.typedArrayFromHeap(invStd);
    const g = backend.typedArrayFromHeap(gamma);
    const m = backend.typedArrayFromHeap(mean);
    const p = backend.typedArrayFromHeap(scratch); // [a | b | mean | e]
    for (let ch = 0; ch < c; ch++) {
      const a = (g[ch] * s[ch]);
      p[ch] = a;
      p[c + ch] = (-a * s[ch] * s[ch] * sdyx[ch]) / rows;
      p[2 * c + ch] = m[ch];
      p[3 * c + ch] = (-a * sdy[ch]) / rows;
      sdyx[ch] = sdyx[ch] * s[ch];
    }
    runSplitPass(backend, native, rows, 3 * rows * c, [SPLIT_OPS.bnBackwardDx, rows, pointer(backend, dy), c, pointer(backend, x), at, pointer(backend, dx)]);
  } finally {
    backend.disposeData(scratch.dataId);
  }
  return [dx, dgamma, dbeta];
}

interface BatchNormLayer {
  axis: number;
  epsilon: number;
  momentum: number;
  center: boolean;
  scale: boolean;
  gamma?: { read(): tf.Tensor };
  beta?: { read(): tf.Tensor };
  movingMean: { read(): tf.Tensor; write(value: tf.Tensor): void };
  movingVariance: { read(): tf.Tensor; write(value: tf.Tensor): void };
}

/** The layer's training call through the two kernels, or null when it does not apply (then the layer's own call runs). */
function fusedTrainingCall(layer: BatchNormLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown> | undefined): tf.Tensor | null {
  if (!kwargs?.training || tf.getBackend() !== "wasm") return null;
  const x = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : undefined) : inputs;
  if (!x || x.dtype !== "float32" || x.rank < 2 || !layer.center || !layer.scale || !layer.gamma || !layer.beta) return null;
  if (layer.axis !== -1 && layer.axis !== x.rank - 1) return null;
  const c = x.shape[x.rank - 1];
  if (c === 0 || x.size === 0 || layer.gamma.read().size !== c || layer.beta.read().size !== c) return null;
  // Inside a gradient of a gradient (tf.grad of tf.grad: a tape within a tape) the layer's own ops, whose
  // gradients are differentiable again.
  if (((tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth ?? 0) > 1) return null;
  if (!nativeKernels(tf.backend() as unknown as Backend)) return null;
  return tf.tidy(() => {
    let stats: tf.Tensor[] = [];
    const op = tf.customGrad(((input: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
      const [y, mean, variance, invStd] = tf.engine().runKernel(FORWARD, { x: input, gamma, beta }, { epsilon: layer.epsilon }) as tf.Tensor[];
      save([input, gamma, mean, invStd]);
      stats = [tf.keep(mean), tf.keep(variance)];
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xs, gs, ms, ss] = saved;
          return tf.engine().runKernel(BACKWARD, { dy, x: xs, gamma: gs, mean: ms, invStd: ss }, {}) as tf.Tensor[];
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0]);
    const y = op(x, layer.gamma!.read(), layer.beta!.read());
    try {
      // The moving averages, as tfjs-layers updates them: value - (value - batch) * (1 - momentum).
      for (const [variable, batch] of [[layer.movingMean, stats[0]], [layer.movingVariance, stats[1]]] as const) {
        tf.tidy(() => {
          const old = variable.read();
          variable.write(tf.sub(old, tf.mul(tf.sub(old, batch), 1 - layer.momentum)));
        });
      }
    } finally {
      tf.dispose(stats);
    }
    return y;
  });
}

let installed = false;

/** Register the two kernels on wasm and route tfjs-layers' BatchNormalization training calls through them (idempotent). */
export function installFusedBatchNormTraining(): void {
  if (installed) return;
  tf.registerKernel({ kernelName: FORWARD, backendName: "wasm", kernelFunc: forward as any });
  tf.registerKernel({ kernelName: BACKWARD, backendName: "wasm", kernelFunc: backward as any });
  // The registered class (making a layer to reach it would use up one of the automatic layer names).
  const registered = (tf.serialization.SerializationMap.getMap().classNameMap as Record<string, [{ prototype: unknown }, unknown]>).BatchNormalization;
  if (!registered) throw new Error("lepton: tfjs-layers has no BatchNormalization class registered");
  const proto = registered[0].prototype as { call(this: BatchNormLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] };
  const original = proto.call;
  proto.call = function (this: BatchNormLayer, inputs, kwargs) {
    return fusedTrainingCall(this, inputs, kwargs) ?? original.call(this, inputs, kwargs);
  };
  installed = true;
}
