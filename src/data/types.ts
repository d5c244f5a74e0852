/**
 * The one dataset interface that every lepton data source implements and that `train`,
 * `evaluate` and `lrFind` consume. (Contract shared by the data and training layers.)
 */
import type * as tf from "@tensorflow/tfjs";

/** One mini-batch. The consumer owns the tensors and disposes them. */
export interface Batch {
  /** Inputs, shape [batch, ...sampleShape], float32. */
  x: tf.Tensor;
  /** Targets: int32 class indices of shape [batch] for classification, float32 [batch, k] otherwise. */
  y: tf.Tensor;
}

export interface BatchOptions {
  batchSize: number;
  shuffle?: boolean;
  seed?: number;
  dropLast?: boolean;
}

export interface SplitOptions {
  seed?: number;
  /** Keep each class's share the same in both parts (classification data only). */
  stratify?: boolean;
}

export interface Dataset {
  /** A short name shown in summaries ("cifar10/train"). */
  readonly name: string;
  /** Number of samples. */
  readonly size: number;
  /** Class names for classification data, index = label; undefined for regression. */
  readonly classes?: readonly string[];
  /** Shape of one input sample (e.g. [32, 32, 3]). */
  readonly inputShape: readonly number[];
  /** Shape of one target: [] for a class index, [k] for a k-vector. */
  readonly targetShape: readonly number[];
  /** Mini-batches as an async iterator of tensors. */
  batches(options: BatchOptions): AsyncIterableIterator<Batch>;
  /** Integer class label of every sample (classification data), without materialising inputs. */
  labels?(): Int32Array;
  /** Two disjoint datasets: the first holds `frac` of the samples. */
  split(frac: number, options?: SplitOptions): [Dataset, Dataset];
  /** The first n samples (after any shuffle made with split). */
  take(n: number): Dataset;
}
