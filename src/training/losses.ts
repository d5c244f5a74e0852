/**
 * Cross-entropy helpers and how a classifier's output is read (logits, probabilities, binary). The
 * objective that training, validation, evaluate and lrFind share is in objective.ts.
 */
import * as tf from "@tensorflow/tfjs";

export type TaskKind = "classification" | "regression";

/**
 * Mean softmax cross-entropy of `logits` [b, k] against int32 `labels` [b], with label smoothing
 * `eps`: the target is (1 - eps) on the true class plus eps / k spread over all classes.
 */
export function sparseCrossEntropy(logits: tf.Tensor, labels: tf.Tensor, eps = 0): tf.Scalar {
  return tf.tidy(() => perSampleCrossEntropy(logits, labels, eps).mean() as tf.Scalar);
}

/** Cross-entropy of each sample, shape [b]. */
export function perSampleCrossEntropy(logits: tf.Tensor, labels: tf.Tensor, eps = 0): tf.Tensor1D {
  return tf.tidy(() => {
    const k = logits.shape[logits.shape.length - 1] as number;
    const logp = tf.logSoftmax(logits as tf.Tensor2D);
    const oneHot = tf.oneHot(labels.toInt() as tf.Tensor1D, k).toFloat();
    const target = eps > 0 ? oneHot.mul(1 - eps).add(eps / k) : oneHot;
    return target.mul(logp).sum(-1).neg() as tf.Tensor1D;
  });
}

/**
 * What a classifier's output means, read from its last layer, so that models ending in softmax
 * (Keras style) or in one sigmoid/linear unit (logistic regression) train and evaluate correctly:
 *   "logits"             [b, k] scores (lepton's models): used as they are
 *   "probabilities"      [b, k] after softmax: log(p) are logits for the same softmax
 *   "binaryLogit"        [b, 1] one score z for class 1: logits [0, z]
 *   "binaryProbability"  [b, 1] sigmoid(z): logits [log(1 - p), log(p)]
 */
export type OutputKind = "logits" | "probabilities" | "binaryLogit" | "binaryProbability";

export function outputKind(model: tf.LayersModel): OutputKind {
  const shape = model.outputs[0].shape;
  const units = shape[shape.length - 1];
  const layer = model.outputs[0].sourceLayer as tf.layers.Layer | undefined;
  let activation: unknown;
  try {
    const config = layer?.getConfig() ?? {};
    activation = layer?.getClassName() === "Softmax" ? "softmax" : config.activation;
  } catch {
    activation = undefined;
  }
  if (units === 1) return activation === "sigmoid" ? "binaryProbability" : "binaryLogit";
  return activation === "softmax" ? "probabilities" : "logits";
}

/** Class logits [b, k] (k >= 2) from a classifier's raw output of the given kind. */
export function classLogits(out: tf.Tensor, kind: OutputKind): tf.Tensor2D {
  return tf.tidy((): tf.Tensor2D => {
    const o = out as tf.Tensor2D;
    switch (kind) {
      case "logits":
        return o;
      case "probabilities":
        return tf.log(tf.clipByValue(o, 1e-7, 1)) as tf.Tensor2D;
      case "binaryLogit":
        return tf.concat([tf.zerosLike(o), o], 1);
      case "binaryProbability": {
        const p = tf.clipByValue(o, 1e-7, 1 - 1e-7);
        return tf.concat([tf.log(tf.sub(1, p)) as tf.Tensor2D, tf.log(p) as tf.Tensor2D], 1);
      }
    }
  });
}
