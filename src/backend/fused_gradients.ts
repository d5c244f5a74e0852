/**
 * Only the gradients that are asked for, of the fused convolution and matrix product.
 *
 * tfjs-layers' Conv2D layer calls `tf.fused.conv2d`. Without a bias or an activation (every convolution of
 * `models.resnet9` and `models.airbench`, which put batch norm after the convolution), TensorFlow.js fuses
 * even under a gradient tape, through `tf.customGrad`, whose gradient function computes the gradients of
 * all its inputs at once. So every step computed the input gradient of the first trained convolution
 * (of the images: 5 ms of ResNet-9's ~200 ms step at batch 64), and the filter gradient of a frozen
 * convolution between trained layers. (A frozen first layer, such as airbench's whitening, was never
 * differentiated: nothing it reads is trained.)
 *
 * Here `tf.fused.conv2d` without bias, activation or PReLU weights, while a gradient is being recorded,
 * runs `tf.conv2d` instead: the same function (TensorFlow.js's own unfused branch does exactly this for
 * the other activations), whose registered gradient is computed per input, only for the inputs the tape
 * needs. Outside a gradient, and with a bias or an activation, the fused op runs as before.
 *
 * The same for `tf.fused.matMul` with a linear activation (a model's last Dense layer, with its bias):
 * under a tape it runs as tf.matMul and tf.add, TensorFlow.js's unfused branch, so its backward pass is
 * the kernels lepton runs natively (BatchMatMul, per-channel Sum) instead of XNNPACK's fused kernel and a
 * customGrad that computes every gradient.
 * Tested in test/fused_gradients.test.ts.
 */
import * as tf from "@tensorflow/tfjs";

type FusedConv2DArgs = Parameters<typeof tf.fused.conv2d>[0];
type FusedMatMulArgs = Parameters<typeof tf.fused.matMul>[0];

let installed = false;

/** Whether a plain convolution computes the same thing as this fused call. */
function plain(args: FusedConv2DArgs): boolean {
  const activation = args.activation ?? "linear";
  return args.bias == null && args.preluActivationWeights == null && activation === "linear";
}

/** Patch `tf.fused.conv2d` and `tf.fused.matMul` (idempotent; each patched function carries the original as `lepton$fused`). */
export function installLazyFusedGradients(): void {
  if (installed) return;
  const fused = tf.fused as { conv2d: typeof tf.fused.conv2d };
  const original = fused.conv2d;
  const patched = (args: FusedConv2DArgs): tf.Tensor => {
    if (tf.engine().state.gradientDepth > 0 && plain(args)) {
      return tf.conv2d(args.x as tf.Tensor4D, args.filter as tf.Tensor4D, args.strides, args.pad, args.dataFormat, args.dilations, args.dimRoundingMode);
    }
    return original(args);
  };
  Object.defineProperty(patched, "lepton$fused", { value: original });
  fused.conv2d = patched as typeof tf.fused.conv2d;
  const matMul = tf.fused as { matMul: typeof tf.fused.matMul };
  const originalMatMul = matMul.matMul;
  const patchedMatMul = (args: FusedMatMulArgs): tf.Tensor => {
    if (tf.engine().state.gradientDepth > 0 && (args.activation ?? "linear") === "linear" && args.preluActivationWeights == null) {
      const product = tf.matMul(args.a, args.b, args.transposeA, args.transposeB);
      return args.bias == null ? product : tf.add(product, args.bias);
    }
    return originalMatMul(args);
  };
  Object.defineProperty(patchedMatMul, "lepton$fused", { value: originalMatMul });
  matMul.matMul = patchedMatMul as typeof tf.fused.matMul;
  installed = true;
}
