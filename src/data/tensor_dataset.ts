/**
 * In-memory datasets: samples held in flat typed arrays (uint8 images stay uint8), float32 batches
 * made on the fly. Every lepton data source (CIFAR-10, MNIST, CSV, image folders, synthetic data)
 * returns an InMemoryDataset, and `fromTensors` makes one from plain tensors or typed arrays.
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch, BatchOptions, Dataset, SplitOptions } from "./types";
import { DISPLAY_SYMBOL, type Displayable, type MimeBundle } from "../display/display";
import { makeRng, mixSeed, shuffleInPlace } from "./rng";
import {
  augmentTransforms,
  normalizeTransform,
  transformPath,
  type AugmentOptions,
  type BatchTransform,
  type NamedTransform,
  type TransformPath,
} from "./transforms";
import { imageGrid } from "../display/plot/images";
import { DataTable, describeColumns, type Cell } from "./table";
import { escapeHtml, formatFloat32 } from "../util/html";
import { pngImgTag } from "../util/png";

/** The samples behind one or more datasets (split and take share it without copying). */
export interface SampleStore {
  /** All inputs, sample after sample, each `prod(inputShape)` values (images NHWC). */
  x: Uint8Array | Float32Array;
  /** Stored values are multiplied by this to make batch inputs (1/255 for uint8 images). */
  scale: number;
  /** Class indices (classification) or flat float targets, `prod(targetShape)` per sample. */
  y: Int32Array | Float32Array;
  inputShape: number[];
  targetShape: number[];
  classes?: string[];
  /** The source table's raw cells (CSV), for head() and describe(): one row per sample. */
  table?: RawTable;
}

/** A table's columns as read (the CSV's feature and label columns, in file order). */
export interface RawTable {
  columns: string[];
  /** Whether every value of the column is a number. */
  numeric: boolean[];
  /** rows[sample][column], the cells as text. */
  rows: string[][];
}

/** Samples shown by a dataset's display: thumbnails for images, table rows otherwise. */
const HEAD_IMAGES = 8;
const HEAD_ROWS = 5;
/** Columns listed in a dataset's text summary before "...". */
const SUMMARY_FEATURES = 10;

export interface ShowOptions {
  /** How many samples to draw (default 32, at most 256). */
  n?: number;
  /** Draw randomly chosen samples with this seed (default: the first n). */
  seed?: number;
  /** Screen pixels per image pixel (default: chosen by lepton.plot.imageGrid). */
  scale?: number;
  /** Title above the grid (default: the dataset's name). */
  title?: string;
}

/** `batches()` options of an InMemoryDataset: the shared BatchOptions plus where the transforms run. */
export interface InMemoryBatchOptions extends BatchOptions {
  /**
   * Run the built-in transforms on the batch's values ("array") or as tf ops on the batch tensor
   * ("tensor"); "auto" (default) follows $LEPTON_TRANSFORMS, else the backend (see transformPath).
   * Both give the same batches.
   */
  transforms?: TransformPath | "auto";
}

export interface ToTfDataOptions extends Partial<BatchOptions> {
  /** Class labels as one-hot float32 [b, classes] instead of float32 indices [b] (default false). */
  oneHot?: boolean;
}

function prod(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** What dataset.check() found: samples with NaN or infinite inputs or targets. */
export class DataCheck implements Displayable {
  constructor(
    readonly name: string,
    readonly samples: number,
    /** Number of samples with a non-finite input or target value. */
    readonly count: number,
    /** The first (up to 10) of them: position in the dataset and which part. */
    readonly nonFinite: { index: number; part: "input" | "target" }[],
  ) {}

  get ok(): boolean {
    return this.count === 0;
  }

  toString(): string {
    if (this.ok) return `${this.name}: all ${this.samples} samples have finite inputs and targets.`;
    const list = this.nonFinite.map((f) => `${f.index} (${f.part})`).join(", ");
    return `${this.name}: ${this.count} of ${this.samples} samples have NaN or infinite values, e.g. sample ${list}${this.count > this.nonFinite.length ? ", ..." : ""}.`;
  }

  [DISPLAY_SYMBOL](): MimeBundle {
    return { "text/plain": this.toString() };
  }
}

/** A dataset over a SampleStore, a list of sample indices and a chain of batch transforms. */
export class InMemoryDataset implements Dataset, Displayable {
  readonly name: string;
  readonly size: number;
  readonly classes?: readonly string[];
  readonly inputShape: readonly number[];
  readonly targetShape: readonly number[];
  /** Descriptions of the transforms applied to each batch, in order. */
  readonly transformNames: readonly string[];

  constructor(
    name: string,
    private readonly store: SampleStore,
    private readonly indices: Int32Array,
    private readonly transforms: readonly NamedTransform[] = [],
  ) {
    this.name = name;
    this.size = indices.length;
    this.classes = store.classes;
    this.inputShape = store.inputShape;
    this.targetShape = store.targetShape;
    this.transformNames = transforms.map((t) => t.name);
  }

  /** The same samples with other transforms or name. */
  private derive(name: string, indices: Int32Array, transforms: readonly NamedTransform[]): InMemoryDataset {
    return new InMemoryDataset(name, this.store, indices, transforms);
  }

  get isClassification(): boolean {
    return this.store.classes !== undefined;
  }

  /** Mini-batches: x float32 [b, ...inputShape] (after transforms), y int32 [b] or float32 [b, k]. */
  async *batches(options: InMemoryBatchOptions): AsyncIterableIterator<Batch> {
    const { batchSize, shuffle = false, seed, dropLast = false } = options ?? ({} as BatchOptions);
    const where = transformPath(options?.transforms);
    if (!Number.isInteger(batchSize) || batchSize <= 0) {
      throw new Error(`batches(): batchSize must be a whole number > 0; got ${batchSize}.`);
    }
    const order = Int32Array.from(this.indices);
    if (shuffle) shuffleInPlace(order, makeRng(seed));
    const ctx = { rng: makeRng(seed === undefined ? undefined : mixSeed(seed, 0xa09e)) };
    for (let start = 0; start < order.length; start += batchSize) {
      const end = Math.min(order.length, start + batchSize);
      if (dropLast && end - start < batchSize) break;
      const batch = this.makeBatch(order.subarray(start, end), ctx, where);
      yield batch;
      // Let timers and I/O (kernel messages, interrupts) run between batches.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Gather samples `rows` (store indices) into tensors and apply the transforms. */
  private makeBatch(rows: Int32Array, ctx: { rng: () => number }, where: TransformPath): Batch {
    const { x, y } = this.gather(rows);
    const shape = [rows.length, ...this.store.inputShape];
    // Array path: leading transforms with an array form run on the values before they become a
    // tensor. Tensor path: every transform runs on the batch tensor, built-ins as tf ops.
    let first = 0;
    while (where === "array" && first < this.transforms.length && this.transforms[first].applyArray) {
      this.transforms[first].applyArray!(x, shape, ctx);
      first++;
    }
    return tf.tidy(() => {
      let batch: Batch = {
        x: tf.tensor(x, shape, "float32"),
        y: this.isClassification
          ? tf.tensor1d(y as Int32Array, "int32")
          : tf.tensor(y, [rows.length, ...this.store.targetShape], "float32"),
      };
      for (const t of this.transforms.slice(first)) batch = (where === "tensor" && t.applyTensor ? t.applyTensor : t.apply)(batch, ctx);
      return batch as unknown as tf.TensorContainerObject;
    }) as unknown as Batch;
  }

  /** Raw (untransformed) inputs scaled to float, and targets, for store indices `rows`. */
  private gather(rows: Int32Array): { x: Float32Array; y: Int32Array | Float32Array } {
    const d = prod(this.store.inputShape);
    const k = prod(this.store.targetShape);
    const src = this.store.x;
    const scale = this.store.scale;
    const x = new Float32Array(rows.length * d);
    for (let i = 0; i < rows.length; i++) {
      const off = rows[i] * d;
      const o = i * d;
      if (scale === 1) x.set(src.subarray(off, off + d), o);
      else for (let j = 0; j < d; j++) x[o + j] = src[off + j] * scale;
    }
    const y = this.isClassification ? new Int32Array(rows.length) : new Float32Array(rows.length * k);
    for (let i = 0; i < rows.length; i++) {
      if (this.isClassification) y[i] = this.store.y[rows[i]];
      else (y as Float32Array).set(this.store.y.subarray(rows[i] * k, rows[i] * k + k), i * k);
    }
    return { x, y };
  }

  /** Class index of every sample, in dataset order (classification data). */
  labels(): Int32Array {
    if (!this.isClassification) throw new Error(`${this.name} is a regression dataset: it has targets, not class labels.`);
    const out = new Int32Array(this.size);
    for (let i = 0; i < this.size; i++) out[i] = this.store.y[this.indices[i]];
    return out;
  }

  /** Number of samples of each class (classification data). */
  classCounts(): number[] {
    const counts = new Array(this.classes?.length ?? 0).fill(0);
    for (const l of this.labels()) counts[l]++;
    return counts;
  }

  /**
   * Two disjoint datasets, the first with `frac` of the samples, both in a seeded shuffled order
   * (seed 0 unless given, so a split is the same every run). With `stratify`, each class is split
   * in the same proportion.
   */
  split(frac: number, options: SplitOptions = {}): [InMemoryDataset, InMemoryDataset] {
    if (!(frac > 0 && frac < 1)) throw new Error(`split(): frac must be between 0 and 1 (exclusive); got ${frac}.`);
    const rng = makeRng(options.seed ?? 0);
    let first: number[] = [];
    let second: number[] = [];
    if (options.stratify) {
      if (!this.isClassification) throw new Error(`split(): stratify needs class labels; ${this.name} is a regression dataset.`);
      const byClass: number[][] = this.classes!.map(() => []);
      for (let i = 0; i < this.size; i++) byClass[this.store.y[this.indices[i]]].push(this.indices[i]);
      for (const members of byClass) {
        shuffleInPlace(members, rng);
        const cut = Math.round(frac * members.length);
        first.push(...members.slice(0, cut));
        second.push(...members.slice(cut));
      }
      shuffleInPlace(first, rng);
      shuffleInPlace(second, rng);
    } else {
      const all = shuffleInPlace(Array.from(this.indices), rng);
      const cut = Math.round(frac * all.length);
      first = all.slice(0, cut);
      second = all.slice(cut);
    }
    return [
      this.derive(`${this.name}[split ${first.length}]`, Int32Array.from(first), this.transforms),
      this.derive(`${this.name}[split ${second.length}]`, Int32Array.from(second), this.transforms),
    ];
  }

  /**
   * Look for NaN and infinite values in the stored inputs and targets of this dataset's samples
   * (uint8 and int32 storage cannot hold them). train() runs it before the first step.
   *
   *   const c = ds.check();   // c.ok; c.nonFinite: [{ index, part: "input" | "target" }, ...] (first 10)
   */
  check(): DataCheck {
    const found: { index: number; part: "input" | "target" }[] = [];
    let count = 0;
    const scan = (values: Uint8Array | Int32Array | Float32Array, per: number, part: "input" | "target") => {
      if (!(values instanceof Float32Array)) return;
      for (let i = 0; i < this.size; i++) {
        const r = this.indices[i];
        for (let j = r * per, end = r * per + per; j < end; j++) {
          if (!Number.isFinite(values[j])) {
            count++;
            if (found.length < 10) found.push({ index: i, part });
            break;
          }
        }
      }
    };
    scan(this.store.x, prod(this.inputShape), "input");
    scan(this.store.y, Math.max(1, prod(this.targetShape)), "target");
    found.sort((a, b) => a.index - b.index);
    return new DataCheck(this.name, this.size, count, found);
  }

  /** The first n samples (all of them if n >= size). */
  take(n: number): InMemoryDataset {
    if (!Number.isInteger(n) || n < 0) throw new Error(`take(): n must be a whole number >= 0; got ${n}.`);
    const idx = this.indices.slice(0, Math.min(n, this.size));
    return this.derive(`${this.name}[:${idx.length}]`, idx, this.transforms);
  }

  /** A seeded random reordering of the samples (handy before take()). */
  shuffled(seed = 0): InMemoryDataset {
    return this.derive(this.name, shuffleInPlace(Int32Array.from(this.indices), makeRng(seed)), this.transforms);
  }

  /** Apply a batched transform to every batch (after the ones already added). */
  map(transform: BatchTransform, name = "map"): InMemoryDataset {
    return this.derive(this.name, this.indices, [...this.transforms, { name, apply: transform }]);
  }

  /** Random augmentation on image batches: crop with padding, horizontal flip, cutout. */
  augment(options: AugmentOptions): InMemoryDataset {
    return this.derive(this.name, this.indices, [...this.transforms, ...augmentTransforms(options)]);
  }

  /**
   * Per-channel normalisation (x - mean) / std over the last axis. Without arguments the
   * statistics are computed from this dataset's raw inputs (scaled to [0,1] for images); pass the
   * training set's values to the test set: `test.normalize(...train.channelStats())`-style, or
   * `test.normalize(trainNorm.mean, trainNorm.std)`.
   */
  normalize(mean?: readonly number[], std?: readonly number[]): InMemoryDataset & { mean: number[]; std: number[] } {
    let m = mean ? [...mean] : undefined;
    let s = std ? [...std] : undefined;
    if (!m || !s) {
      const stats = this.channelStats();
      m = m ?? stats.mean;
      s = s ?? stats.std;
    }
    const out = this.derive(this.name, this.indices, [...this.transforms, normalizeTransform(m, s)]);
    return Object.assign(out, { mean: m, std: s });
  }

  /** Mean and (population) standard deviation of each channel (last axis) of the raw inputs. */
  channelStats(): { mean: number[]; std: number[] } {
    const c = this.store.inputShape[this.store.inputShape.length - 1] ?? 1;
    const d = prod(this.store.inputShape);
    const sum = new Float64Array(c);
    const sumSq = new Float64Array(c);
    const src = this.store.x;
    for (let i = 0; i < this.size; i++) {
      const off = this.indices[i] * d;
      for (let j = 0; j < d; j++) {
        const v = src[off + j];
        const ch = j % c;
        sum[ch] += v;
        sumSq[ch] += v * v;
      }
    }
    const count = (this.size * d) / c;
    if (count === 0) throw new Error(`channelStats(): ${this.name} has no samples.`);
    const mean: number[] = [];
    const std: number[] = [];
    for (let ch = 0; ch < c; ch++) {
      const m = sum[ch] / count;
      const variance = Math.max(0, sumSq[ch] / count - m * m);
      mean.push(m * this.store.scale);
      std.push(Math.sqrt(variance) * this.store.scale);
    }
    return { mean, std };
  }

  /** All samples (transforms applied) as two tensors; the caller disposes them. */
  async toTensors(): Promise<{ x: tf.Tensor; y: tf.Tensor }> {
    const parts: Batch[] = [];
    for await (const b of this.batches({ batchSize: Math.max(1, Math.min(this.size, 4096)) })) parts.push(b);
    if (parts.length === 0) {
      return {
        x: tf.zeros([0, ...this.inputShape]),
        y: this.isClassification ? tf.zeros([0], "int32") : tf.zeros([0, ...this.targetShape]),
      };
    }
    const x = tf.concat(parts.map((p) => p.x));
    const y = tf.concat(parts.map((p) => p.y));
    for (const p of parts) tf.dispose([p.x, p.y]);
    return { x, y };
  }

  /**
   * A tf.data.Dataset of batches {xs, ys} (the shape tf.LayersModel.fitDataset expects). Class
   * labels come as float32 indices (what tfjs-layers' sparse losses and metrics accept), or one-hot
   * float32 [b, classes] with `oneHot: true` (for categoricalCrossentropy). Each iteration over it
   * replays the same order when a seed is given.
   */
  toTfData(options: ToTfDataOptions = {}): tf.data.Dataset<{ xs: tf.Tensor; ys: tf.Tensor }> {
    const { oneHot = false, ...rest } = options;
    const opts: BatchOptions = { ...rest, batchSize: options.batchSize ?? 32 };
    const self = this;
    const k = this.classes?.length ?? 0;
    return tf.data.generator(async function* () {
      for await (const b of self.batches(opts)) {
        if (!self.isClassification) {
          yield { xs: b.x, ys: b.y };
          continue;
        }
        const ys = tf.tidy(() => (oneHot ? tf.oneHot(b.y as tf.Tensor1D, k).toFloat() : b.y.toFloat()));
        b.y.dispose();
        yield { xs: b.x, ys };
      }
    } as unknown as () => AsyncIterator<{ xs: tf.Tensor; ys: tf.Tensor }>);
  }

  /** A labelled grid of sample images (raw inputs, before transforms). */
  show(options: ShowOptions = {}): Displayable {
    const n = Math.max(1, Math.min(256, options.n ?? 32, this.size));
    const shape = this.store.inputShape;
    const isImage = (shape.length === 3 && (shape[2] === 1 || shape[2] === 3)) || shape.length === 2;
    if (!isImage) {
      throw new Error(`show() draws images; ${this.name} has inputs of shape [${shape.join(", ")}]. ` +
        `Use a plot of the features instead.`);
    }
    const order = options.seed === undefined ? this.indices : shuffleInPlace(Int32Array.from(this.indices), makeRng(options.seed));
    const rows = order.slice(0, n);
    const { x, y } = this.gather(rows);
    const [h, w] = shape;
    const c = shape.length === 3 ? shape[2] : 1;
    const captions: string[] = [];
    for (let i = 0; i < n; i++) {
      if (this.isClassification) captions.push(this.classes![y[i]] ?? String(y[i]));
      else captions.push(Array.from(y.subarray(i * prod(this.targetShape), (i + 1) * prod(this.targetShape)), (v) => v.toPrecision(3)).join(", "));
    }
    return imageGrid({ data: x, shape: [n, h, w, c] }, { labels: captions, format: "HWC", title: options.title ?? this.name, ...(options.scale ? { scale: options.scale } : {}) });
  }

  /** True when samples are images: [h, w] or [h, w, 1|3|4]. */
  private get isImage(): boolean {
    const s = this.store.inputShape;
    return s.length === 2 || (s.length === 3 && (s[2] === 1 || s[2] === 3 || s[2] === 4));
  }

  /** Names of the input columns of tabular data: the CSV's encoded feature names, else x0, x1, ... */
  private featureColumns(): string[] {
    const named = (this as { featureNames?: unknown }).featureNames;
    const d = prod(this.store.inputShape);
    if (Array.isArray(named) && named.length === d) return named.map(String);
    return Array.from({ length: d }, (_, i) => `x${i}`);
  }

  /** Target column names: "label" (class name) or "target" / "target0", "target1", ... */
  private targetColumns(): string[] {
    if (this.isClassification) return ["label"];
    const k = prod(this.store.targetShape);
    return k === 1 ? ["target"] : Array.from({ length: k }, (_, i) => `target${i}`);
  }

  private requireTabular(what: string): void {
    if (this.store.inputShape.length !== 1) {
      throw new Error(`${what} lists table rows; ${this.name} has inputs of shape [${this.store.inputShape.join(", ")}]. ` +
        `Show the dataset itself (as a cell's last value) or use show() to see its images.`);
    }
  }

  /**
   * The first n samples as a table, row labels = sample numbers. A CSV dataset shows its columns as
   * read (text categories, the label column); other tabular data shows x0, x1, ... and the label or target.
   */
  head(n = 5): DataTable {
    this.requireTabular("head()");
    if (!Number.isInteger(n) || n < 0) throw new Error(`head(): n must be a whole number >= 0; got ${n}.`);
    const rows = this.indices.slice(0, Math.min(n, this.size));
    const table = this.store.table;
    if (table) {
      return new DataTable(table.columns, Array.from(rows, (r) => table.rows[r].map((v, c) => (table.numeric[c] ? Number(v) : v))), Array.from(rows), this.name);
    }
    const { x, y } = this.gather(rows);
    const d = prod(this.store.inputShape);
    const k = prod(this.store.targetShape);
    const out: Cell[][] = [];
    for (let i = 0; i < rows.length; i++) {
      const row: Cell[] = Array.from(x.subarray(i * d, (i + 1) * d), (v) => Number(formatFloat32(v)));
      if (this.isClassification) row.push(this.classes![y[i]] ?? String(y[i]));
      else for (let j = 0; j < k; j++) row.push(Number(formatFloat32(y[i * k + j])));
      out.push(row);
    }
    return new DataTable([...this.featureColumns(), ...this.targetColumns()], out, Array.from(rows), this.name);
  }

  /**
   * Statistics of each numeric column, as pandas' describe(): count, mean, std (sample, n - 1), min,
   * 25%, 50%, 75%, max (linear interpolation). A CSV dataset describes its numeric columns as read
   * (the label too when it is numeric); other tabular data its inputs and regression targets.
   */
  describe(): DataTable {
    this.requireTabular("describe()");
    const table = this.store.table;
    const n = this.size;
    if (table) {
      const columns = table.columns
        .map((name, c) => ({ name, c }))
        .filter(({ c }) => table.numeric[c])
        .map(({ name, c }) => ({ name, values: Float64Array.from(this.indices, (r) => Number(table.rows[r][c])) }));
      return describeColumns(columns, this.name);
    }
    const d = prod(this.store.inputShape);
    const k = prod(this.store.targetShape);
    const { x, y } = this.gather(this.indices);
    const columns = this.featureColumns().map((name, j) => ({ name, values: Float64Array.from({ length: n }, (_, i) => x[i * d + j]) }));
    if (!this.isClassification) {
      this.targetColumns().forEach((name, j) => columns.push({ name, values: Float64Array.from({ length: n }, (_, i) => y[i * k + j]) }));
    }
    return describeColumns(columns, this.name);
  }

  /** One-line description. */
  toString(): string {
    const parts = [`${this.name}: ${this.size} samples`, `input [${this.inputShape.join(", ")}]`];
    if (this.classes) parts.push(`${this.classes.length} classes`);
    else parts.push(`target [${this.targetShape.join(", ")}]`);
    if (this.transforms.length) parts.push(`transforms: ${this.transformNames.join(" -> ")}`);
    return parts.join(", ");
  }

  /** The rows of the summary: what the dataset is. */
  private summaryRows(): [string, string][] {
    const rows: [string, string][] = [
      ["samples", String(this.size)],
      ["input shape", `[${this.inputShape.join(", ")}]`],
    ];
    if (this.classes) {
      const counts = this.classCounts();
      const shown = this.classes.slice(0, 20).map((c, i) => `${c} (${counts[i]})`).join(", ");
      rows.push([`${this.classes.length} classes`, shown + (this.classes.length > 20 ? ", ..." : "")]);
    } else rows.push(["target shape", `[${this.targetShape.join(", ")}]`]);
    if (this.store.inputShape.length === 1) {
      const names = this.store.table ? this.store.table.columns : this.featureColumns();
      rows.push(["columns", names.slice(0, SUMMARY_FEATURES).join(", ") + (names.length > SUMMARY_FEATURES ? `, ... (${names.length})` : "")]);
    }
    if (this.transforms.length) rows.push(["transforms", this.transformNames.join(" → ")]);
    return rows;
  }

  /** The first samples as HTML: a row of labelled thumbnails for images, a table for tabular data. */
  private headHtml(): string {
    if (this.size === 0) return "";
    if (this.isImage) {
      const n = Math.min(HEAD_IMAGES, this.size);
      const rows = this.indices.slice(0, n);
      const shape = this.store.inputShape;
      const [h, w] = shape;
      const c = shape.length === 3 ? shape[2] : 1;
      const d = prod(shape);
      const k = prod(this.targetShape);
      const cells: string[] = [];
      for (let i = 0; i < n; i++) {
        const r = rows[i];
        const label = this.isClassification
          ? this.classes![this.store.y[r]] ?? String(this.store.y[r])
          : Array.from(this.store.y.subarray(r * k, (r + 1) * k), (v) => formatFloat32(Number(v.toPrecision(3)))).join(", ");
        const img = pngImgTag(
          { values: this.store.x, offset: r * d, height: h, width: w, channels: c, scale: this.store.scale, maxSide: 64 },
          { displaySide: 64, alt: label },
        );
        cells.push(`<td style="text-align:center;padding:2px 4px">${img}<br><span style="font-size:smaller">${escapeHtml(label)}</span></td>`);
      }
      return `<table class="lepton-dataset-head" style="border-collapse:collapse"><caption style="text-align:left">first ${n} samples</caption><tr>${cells.join("")}</tr></table>`;
    }
    if (this.store.inputShape.length === 1) {
      const head = this.head(HEAD_ROWS);
      return new DataTable(head.columns, head.rows, head.index, `first ${head.rows.length} rows`).toHtml();
    }
    return "";
  }

  [DISPLAY_SYMBOL](): MimeBundle {
    const rows = this.summaryRows();
    const width = rows.reduce((w, [k]) => Math.max(w, k.length), 0);
    const text = [this.name, ...rows.map(([k, v]) => `  ${(k + ":").padEnd(width + 1)} ${v}`)].join("\n");
    const html = `<div class="lepton-dataset"><table class="lepton-dataset"><caption style="text-align:left"><b>${escapeHtml(this.name)}</b></caption>` +
      rows.map(([k, v]) => `<tr><th style="text-align:left">${escapeHtml(k)}</th><td style="text-align:left">${escapeHtml(v)}</td></tr>`).join("") +
      `</table>${this.headHtml()}</div>`;
    return { "text/plain": text, "text/html": html };
  }
}

/** Options for `fromTensors`. */
export interface FromTensorsOptions {
  /** Class names (index = label). Makes the data a classification set; default names "0".."k-1" for integer labels. */
  classes?: readonly string[];
  /** Shape of one input; needed when x is a flat typed array of non-vector samples. */
  inputShape?: readonly number[];
  /** Shape of one regression target (default [1] for a flat float array). */
  targetShape?: readonly number[];
  /** Multiply stored inputs by this (default 1/255 for Uint8Array inputs, 1 otherwise). */
  scale?: number;
  /** Name shown in summaries (default "tensors"). */
  name?: string;
}

type InputData = tf.Tensor | Float32Array | Uint8Array;
type TargetData = tf.Tensor | Int32Array | Uint8Array | Uint16Array | Float32Array | number[];

/**
 * An in-memory dataset from plain tensors or typed arrays. Integer labels (Int32Array, Uint8Array,
 * int32 tensors, or any labels with `classes`) make a classification set with targetShape [];
 * float targets make a regression set with targetShape [k]. Uint8Array inputs stay uint8 in
 * memory and become float32 in [0,1] in batches.
 */
export function fromTensors(x: InputData, y: TargetData, opts: FromTensorsOptions = {}): InMemoryDataset {
  let xs: Uint8Array | Float32Array;
  let n: number | undefined;
  let inputShape: number[] | undefined = opts.inputShape ? [...opts.inputShape] : undefined;
  if (x instanceof tf.Tensor) {
    if (x.rank < 1) throw new Error("fromTensors(): x must have a batch axis: shape [samples, ...].");
    const data = x.dataSync();
    xs = data instanceof Uint8Array || data instanceof Float32Array ? data.slice() : Float32Array.from(data);
    n = x.shape[0];
    inputShape = inputShape ?? x.shape.slice(1);
    if (x.rank === 1) inputShape = inputShape.length ? inputShape : [1];
  } else if (x instanceof Uint8Array || x instanceof Float32Array) {
    xs = x;
  } else {
    throw new Error("fromTensors(): x must be a tf.Tensor, Float32Array or Uint8Array.");
  }

  let classification = opts.classes !== undefined;
  let ys: Int32Array | Float32Array;
  let targetShape: number[] = opts.targetShape ? [...opts.targetShape] : [];
  if (y instanceof tf.Tensor) {
    if (y.dtype === "int32" || y.dtype === "bool") classification = true;
    const data = y.dataSync();
    if (classification) {
      if (y.rank !== 1) throw new Error(`fromTensors(): class labels must have shape [samples]; got [${y.shape.join(", ")}].`);
      ys = Int32Array.from(data as ArrayLike<number>);
    } else {
      ys = Float32Array.from(data as ArrayLike<number>);
      targetShape = opts.targetShape ? targetShape : y.rank === 1 ? [1] : y.shape.slice(1);
    }
  } else if (y instanceof Float32Array || Array.isArray(y)) {
    if (classification) {
      const bad = Array.prototype.findIndex.call(y, (v: number) => !Number.isInteger(v));
      if (bad >= 0) throw new Error(`fromTensors(): label ${y[bad]} at sample ${bad} is not a class index (whole number >= 0).`);
      ys = Int32Array.from(y);
    }
    else {
      ys = Float32Array.from(y);
      if (!opts.targetShape) targetShape = [1];
    }
  } else if (y instanceof Int32Array || y instanceof Uint8Array || y instanceof Uint16Array) {
    classification = true;
    ys = Int32Array.from(y);
  } else {
    throw new Error("fromTensors(): y must be a tf.Tensor, Int32Array, Uint8Array, Uint16Array, Float32Array or number[].");
  }
  if (classification) targetShape = [];
  const k = prod(targetShape);
  const ny = ys.length / k;
  if (!Number.isInteger(ny)) throw new Error(`fromTensors(): ${ys.length} target values do not divide into targets of shape [${targetShape.join(", ")}].`);
  n = n ?? (inputShape ? xs.length / prod(inputShape) : ny);
  if (!inputShape) inputShape = [xs.length / n];
  if (!Number.isInteger(n) || !Number.isInteger(inputShape[0]) || n * prod(inputShape) !== xs.length) {
    throw new Error(`fromTensors(): ${xs.length} input values do not make ${n} samples of shape [${inputShape.join(", ")}]; ` +
      `pass opts.inputShape.`);
  }
  if (n !== ny) throw new Error(`fromTensors(): x has ${n} samples but y has ${ny}.`);

  let classes: string[] | undefined;
  if (classification) {
    let max = -1;
    for (let i = 0; i < ys.length; i++) {
      const v = ys[i];
      if (!Number.isInteger(v) || v < 0) throw new Error(`fromTensors(): label ${v} at sample ${i} is not a class index (whole number >= 0).`);
      if (v > max) max = v;
    }
    classes = opts.classes ? [...opts.classes] : Array.from({ length: max + 1 }, (_, i) => String(i));
    if (max >= classes.length) throw new Error(`fromTensors(): label ${max} is out of range for ${classes.length} classes.`);
  }
  const scale = opts.scale ?? (xs instanceof Uint8Array ? 1 / 255 : 1);
  const store: SampleStore = { x: xs, scale, y: ys, inputShape, targetShape, classes };
  return new InMemoryDataset(opts.name ?? "tensors", store, identity(n));
}

/** Indices 0..n-1. */
export function identity(n: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}

/** A dataset over a ready-made store (used by the loaders). */
export function fromStore(name: string, store: SampleStore): InMemoryDataset {
  const n = store.x.length / prod(store.inputShape);
  return new InMemoryDataset(name, store, identity(n));
}

/** The same dataset with the source table's raw cells attached (csv() uses it for head() and describe()). */
export function withTable(ds: InMemoryDataset, table: RawTable): InMemoryDataset {
  return new InMemoryDataset(ds.name, { ...ds["store"], table }, ds["indices"], ds["transforms"]);
}
