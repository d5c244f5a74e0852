/**
 * lepton.data: datasets for training and teaching. Every source returns an InMemoryDataset that
 * implements the shared Dataset contract (./types).
 */
export type { Dataset, Batch, BatchOptions, SplitOptions } from "./types";
export { InMemoryDataset, fromTensors } from "./tensor_dataset";
export type { FromTensorsOptions, ShowOptions, ToTfDataOptions, InMemoryBatchOptions } from "./tensor_dataset";
export { fromTfData } from "./from_tf_data";
export type { FromTfDataOptions, TfDataElement } from "./from_tf_data";
export type { AugmentOptions, BatchTransform, TransformContext } from "./transforms";
export { cifar10, CIFAR10_CLASSES, CIFAR10_URL, CIFAR10_MD5, CIFAR10_KNOWN_MD5S, decodeCifarRecords } from "./cifar10";
export type { Cifar10, Cifar10Options } from "./cifar10";
export { DataFormatError, DataNotFoundError } from "./errors";
export { ArchiveError } from "./archive";
export { DownloadError, downloadFile } from "./download";
export type { DownloadOptions } from "./download";
export { mnist, fashionMnist, parseIdx, MNIST_CLASSES, FASHION_MNIST_CLASSES, MNIST_SOURCE, FASHION_MNIST_SOURCE } from "./mnist";
export type { MnistOptions, ImageClassificationSplits } from "./mnist";
export { linear, blobs, moons, spirals, xor } from "./synthetic";
export type { LinearOptions, BlobsOptions, NoisyOptions, SpiralsOptions } from "./synthetic";
export { csv } from "./csv";
export { DataTable } from "./table";
export type { Cell } from "./table";
export type { CsvOptions, CsvDataset } from "./csv";
export { DEFAULT_MISSING_VALUES } from "./csv";
export type { CsvColumnInfo, CsvInference, CsvMissing } from "./csv";
export { imageFolder, decodeImage } from "./image_folder";
export type { ImageFolderOptions } from "./image_folder";
export { randomCrop, randomFlip, cutout, normalizeTransform, transformPath } from "./transforms";
export type { NamedTransform, ArrayTransform, TransformPath } from "./transforms";
