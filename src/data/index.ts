/**
 * lepton.data: datasets for training and teaching. Every source returns an InMemoryDataset that
 * implements the shared Dataset contract (./types).
 */
export type { Dataset, Batch, BatchOptions, SplitOptions } from "./types";
export { InMemoryDataset, fromTensors } from "./tensor_dataset";
export type { FromTensorsOptions, ShowOptions, ToTfDataOptions } from "./tensor_dataset";
export type { AugmentOptions, BatchTransform, TransformContext } from "./transforms";
