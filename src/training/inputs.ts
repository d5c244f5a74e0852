/**
 * Turn what users pass as data (a Dataset or { x, y } tensors) into a Dataset, and check it fits
 * the model before any work starts, with errors that say what to change.
 */
import * as tf from "@tensorflow/tfjs";
import type { Dataset } from "../data/types";
import { fromTensors } from "../data/tensor_dataset";

/** Data accepted by train, evaluate and lrFind. */
export type DataInput = Dataset | { x: tf.Tensor; y: tf.Tensor };

export function isDataset(d: unknown): d is Dataset {
  return !!d && typeof (d as any).batches === "function" && typeof (d as any).size === "number";
}

export function toDataset(data: DataInput, fn: string, what = "data"): Dataset {
  if (isDataset(data)) return data;
  if (data && typeof data === "object" && (data as any).x instanceof tf.Tensor && (data as any).y instanceof tf.Tensor) {
    const { x, y } = data as { x: tf.Tensor; y: tf.Tensor };
    if (x.shape[0] !== y.shape[0]) {
      throw new Error(`${fn}: ${what}.x has ${x.shape[0]} samples but ${what}.y has ${y.shape[0]} labels; they must match.`);
    }
    return fromTensors(x, y, { name: what });
  }
  throw new Error(`${fn}: ${what} must be a lepton Dataset (e.g. from lepton.data.cifar10()) or { x: tf.Tensor, y: tf.Tensor }.`);
}

export function isClassification(ds: Dataset): boolean {
  return ds.classes !== undefined || (ds.targetShape.length === 0);
}

/**
 * Check that inputs and targets of `ds` fit `model`; throws a clear Error otherwise. With
 * `targets: false` only the model and the inputs are checked (the objective checks the targets of
 * one-hot and float-label data itself).
 */
export function checkFits(model: tf.LayersModel, ds: Dataset, fn: string, options: { targets?: boolean } = {}): void {
  if (!model || typeof (model as any).apply !== "function" || !Array.isArray((model as any).inputs)) {
    throw new Error(`${fn}: the first argument must be a tf.LayersModel (e.g. lepton.models.lenet()).`);
  }
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new Error(`${fn}: lepton trains models with one input and one output; this model has ${model.inputs.length} and ${model.outputs.length}.`);
  }
  const expected = model.inputs[0].shape.slice(1);
  const got = ds.inputShape;
  const ok = expected.length === got.length && expected.every((d, i) => d === null || d === got[i]);
  if (!ok) {
    throw new Error(
      `${fn}: the model expects inputs of shape [${expected.map((d) => d ?? "any").join(", ")}] but ${ds.name} has samples of shape [${got.join(", ")}]. ` +
        `Build the model for this input shape (e.g. lenet({ inputShape: [${got.join(", ")}] })) or reshape/resize the data.`,
    );
  }
  if (options.targets === false) return;
  const outShape = model.outputs[0].shape.slice(1);
  if (isClassification(ds)) {
    const units = outShape[outShape.length - 1];
    if (outShape.length !== 1 || units === null) {
      throw new Error(`${fn}: a classifier must output one score per class, shape [classes]; this model outputs [${outShape.join(", ")}].`);
    }
    const nClasses = ds.classes?.length;
    let maxLabel = -1;
    if (ds.labels) for (const l of ds.labels()) if (l > maxLabel) maxLabel = l;
    const needed = Math.max(nClasses ?? 0, maxLabel + 1);
    // One output unit is a binary classifier (logistic regression): P(class 1) from a logit or a sigmoid.
    if (units === 1 && needed <= 2) return;
    if (needed > (units as number)) {
      throw new Error(
        `${fn}: ${ds.name} has ${needed} classes (labels 0..${needed - 1}) but the model outputs ${units} values. ` +
          `Make the last layer output one logit per class (e.g. lenet({ classes: ${needed} }) or mlp([..., ${needed}])).`,
      );
    }
  } else {
    const t = ds.targetShape;
    const same = t.length === outShape.length && t.every((d, i) => outShape[i] === null || d === outShape[i]);
    if (!same) {
      throw new Error(`${fn}: ${ds.name} has targets of shape [${t.join(", ")}] but the model outputs [${outShape.join(", ")}]; they must match.`);
    }
  }
}
