/**
 * Loss and accuracy on model outputs. Classifiers output logits; labels are int32 class indices.
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

/** Number of samples whose arg-max logit is the label (a float scalar, not read back). */
export function correctCount(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.equal(logits.argMax(-1), labels.toInt()).toFloat().sum() as tf.Scalar);
}

/** Mean squared error for regression targets [b, k]. */
export function meanSquaredError(pred: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.tidy(() => pred.sub(target.reshape(pred.shape)).square().mean() as tf.Scalar);
}
