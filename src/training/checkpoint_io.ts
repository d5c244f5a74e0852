/**
 * Save and load a model with its optimizer and training state to a folder, with plain Node fs:
 *   weights.bin     the model weights
 *   optimizer.bin   the optimizer state (moments, iteration count)
 *   optimizer.json  the optimizer spec (type, lr, momentum, ...) and the specs of its state tensors
 *   state.json      the training state (TrainingState: epochs done, history, LR-schedule step, seed)
 *   model.json      tfjs layers format (topology + weights manifest), written LAST; its `lepton` field
 *                   lists every other file with its size in bytes: it is the commit record. A folder
 *                   whose model.json parses and whose listed files all have their listed sizes is a
 *                   complete checkpoint. (Folders from before the record, without `lepton`, still load.)
 *
 * Crash safety. `save(dir)` writes everything into a sibling `<dir>.tmp-<pid>-<ms>-<n>`, fsyncs each file
 * (model.json last) and the folder, then swaps it in with two renames, `dir` → `<dir>.old-<pid>-<ms>-<n>`
 * and tmp → `dir`, fsyncs the parent folder and deletes the old one. A process killed at any point
 * leaves one of these on disk:
 *   - `dir` intact, plus an incomplete or complete tmp (killed while writing, or before the renames);
 *   - no `dir`, a complete old and a complete tmp (killed between the two renames);
 *   - the new `dir`, plus an old being deleted (killed after the renames).
 * Every `save`, `load`, `loadWeightsInto`, `loadOptimizerState`, `loadOptimizer`, `readState` and
 * `recoverCheckpoint` of `dir` first recovers: if `dir` is missing, the newest complete tmp (the newer
 * save) is renamed to `dir`, else the newest old that is complete; then every other tmp and old of `dir`
 * is deleted, except those of a save still running (in this process, or in another live process).
 * So `dir` always names the previous or the new checkpoint after a crash.
 *
 * Damage. A checkpoint with a missing file, a file shorter or longer than model.json / optimizer.json
 * list, or a JSON file that does not parse, is refused with an Error naming the file, e.g.
 *   load: /abs/ck/weights.bin is damaged: it has 1200 bytes but model.json lists 4800; the checkpoint
 *   cannot be used (save it again, or resume from an earlier one).
 * Messages start with `load:` from load() / loadOptimizer() and `resume:` from loadWeightsInto(),
 * loadOptimizerState() and readState(), which train()'s resumeFrom uses.
 *
 * Optimizer state is only loaded into an optimizer that keeps the same state (optimizerStateKind:
 * plain sgd, sgd with momentum, adam, adamw), checked from the saved spec and from the names of the
 * saved state tensors, and (when a model is given) their count against the model's trainable weights.
 */
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { Optimizer, describeOptimizer, optimizerStateKind, type OptimizerSpec, type OptimizerStateKind } from "./optimizers";
import { processAlive } from "../util/process";

/**
 * The training state saved in state.json: a plain JSON object. lepton's training engine writes and
 * reads the documented fields; anything else a caller adds is kept as is. NaN in history is saved as null.
 */
export interface TrainingState {
  /** Format of this object: 1 for what lepton writes now (absent in older checkpoints). */
  version?: 1;
  /** Epochs completed. */
  epoch?: number;
  /** Per-epoch metrics so far (loss, accuracy, val_loss, ...), one entry per element of `epochs`. */
  history?: { [metric: string]: number[] };
  /** The epoch numbers (1-based) that `history`'s entries belong to. */
  epochs?: number[];
  /** Batches done in total over all epochs: the LR schedule's position. */
  globalStep?: number;
  /** The shuffle seed of the run. */
  seed?: number;
  /** Random-generator state (any JSON), to continue the same shuffles. */
  rng?: unknown;
  /** Anything else a caller wants kept. */
  [key: string]: unknown;
}

export interface Loaded {
  model: tf.LayersModel;
  /** The optimizer with its state, when one was saved. */
  optimizer?: Optimizer;
  /** Epochs completed when saved (0 if no state was saved). */
  epoch: number;
  state: TrainingState;
}

const UNUSABLE = "the checkpoint cannot be used (save it again, or resume from an earlier one).";
const RECORD_VERSION = 1;

/** model.json's `lepton` field: the commit record of a complete checkpoint. */
interface CommitRecord {
  version: number;
  /** Every other file of the checkpoint with its size in bytes. */
  files: { [name: string]: number };
  savedAt?: string;
}

interface OptimizerMeta {
  spec: OptimizerSpec;
  lr: number;
  baseLr?: number;
  specs: tf.io.WeightsManifestEntry[];
}

function joinBuffers(data: ArrayBuffer | ArrayBuffer[]): Buffer {
  return Array.isArray(data) ? Buffer.concat(data.map((b) => Buffer.from(b))) : Buffer.from(data);
}

function toArrayBuffer(buf: Buffer): ArrayBuffer {
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
}

// ---------------------------------------------------------------------------------------------
// Durable writes

/** Write a whole file and fsync it before returning, so a power cut cannot leave it empty. */
function writeDurable(file: string, data: Buffer | string): number {
  const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const fd = fs.openSync(file, "w");
  try {
    let off = 0;
    while (off < buf.byteLength) off += fs.writeSync(fd, buf, off, buf.byteLength - off);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return buf.byteLength;
}

/** fsync a folder (its entries: created and renamed names), where the platform allows it. */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch {
    // Windows cannot open or fsync folders; there the renames are as durable as NTFS makes them.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function modelJsonOf(artifacts: tf.io.ModelArtifacts, record?: CommitRecord): object {
  return {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format ?? "layers-model",
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy ?? null,
    weightsManifest: [{ paths: ["weights.bin"], weights: artifacts.weightSpecs ?? [] }],
    ...(record ? { lepton: record } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Reading with checks

/** Where and for whom files are read; model.json (with the commit record) is parsed once. */
class Reader {
  private json: { value: any } | undefined;
  constructor(readonly dir: string, readonly who: string) {}

  file(name: string): string {
    return path.join(this.dir, name);
  }

  damaged(name: string, why: string): Error {
    return new Error(`${this.who}: ${this.file(name)} is damaged: ${why}; ${UNUSABLE}`);
  }

  missing(name: string, listedBy: string): Error {
    return new Error(`${this.who}: ${this.file(name)} is missing but ${listedBy} lists it; ${UNUSABLE}`);
  }

  parse(name: string): unknown {
    const text = fs.readFileSync(this.file(name), "utf8");
    try {
      return JSON.parse(text);
    } catch (err) {
      throw this.damaged(name, `it is not valid JSON (${(err as Error).message}; ${Buffer.byteLength(text)} bytes)`);
    }
  }

  /** model.json parsed and checked, or undefined when there is none. */
  modelJson(): any | undefined {
    if (this.json) return this.json.value;
    let value: any;
    if (fs.existsSync(this.file("model.json"))) {
      value = this.parse("model.json");
      if (!value || typeof value !== "object" || Array.isArray(value)) throw this.damaged("model.json", "it is not a JSON object");
      if (!value.modelTopology || typeof value.modelTopology !== "object") throw this.damaged("model.json", "it has no modelTopology");
      const manifest = value.weightsManifest;
      if (!Array.isArray(manifest) || !manifest.every((g: any) => g && Array.isArray(g.paths) && g.paths.every((p: unknown) => typeof p === "string") && Array.isArray(g.weights))) {
        throw this.damaged("model.json", "its weightsManifest is not a list of { paths, weights }");
      }
      for (const g of manifest) for (const w of g.weights) if (!isWeightSpec(w)) throw this.damaged("model.json", `its weightsManifest has an entry that is not a weight spec (${JSON.stringify(w)})`);
      if (value.lepton !== undefined && !isRecord(value.lepton)) throw this.damaged("model.json", "its lepton record is not { version, files: { name: bytes } }");
    }
    this.json = { value };
    return value;
  }

  record(): CommitRecord | undefined {
    return this.modelJson()?.lepton;
  }

  /** Whether the commit record lists `name` (so it must be there). */
  listed(name: string): boolean {
    return this.record()?.files[name] !== undefined;
  }

  /** The file's size must be the one the commit record lists. */
  checkListedSize(name: string, size: number): void {
    const want = this.record()?.files[name];
    if (want !== undefined && want !== size) throw this.damaged(name, `it has ${size} bytes but model.json lists ${want}`);
  }
}

function isWeightSpec(w: any): w is tf.io.WeightsManifestEntry {
  return !!w && typeof w.name === "string" && Array.isArray(w.shape) && w.shape.every((d: unknown) => Number.isInteger(d) && (d as number) >= 0) && typeof w.dtype === "string";
}

function isRecord(r: any): r is CommitRecord {
  return !!r && typeof r === "object" && typeof r.version === "number" && !!r.files && typeof r.files === "object" &&
    Object.values(r.files).every((n) => Number.isInteger(n) && (n as number) >= 0);
}

const DTYPE_BYTES: { [dtype: string]: number } = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

/** Bytes the specs take, or undefined when that cannot be known from the specs (strings). */
function specBytes(specs: tf.io.WeightsManifestEntry[]): number | undefined {
  let total = 0;
  for (const s of specs) {
    const dtype = s.quantization?.dtype ?? s.dtype;
    const bytes = DTYPE_BYTES[dtype];
    if (bytes === undefined) return undefined;
    total += s.shape.reduce((a, b) => a * b, 1) * bytes;
  }
  return total;
}

/** The model artifacts of `r.dir`, checked against model.json's manifest and commit record. */
function readArtifacts(r: Reader): tf.io.ModelArtifacts {
  const json = r.modelJson();
  if (json === undefined) throw new Error(`${r.who}: no model.json in ${r.dir}; is this a folder written by lepton.save()?`);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const parts: Buffer[] = [];
  for (const group of json.weightsManifest as { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[]) {
    specs.push(...group.weights);
    const bufs = group.paths.map((p) => {
      if (!fs.existsSync(r.file(p))) throw r.missing(p, "model.json");
      return fs.readFileSync(r.file(p));
    });
    const want = specBytes(group.weights);
    const have = bufs.reduce((a, b) => a + b.byteLength, 0);
    if (want !== undefined && want !== have) {
      if (group.paths.length === 1) throw r.damaged(group.paths[0], `it has ${have} bytes but model.json lists ${want}`);
      throw r.damaged(group.paths.join(" + "), `they have ${have} bytes together but model.json lists ${want}`);
    }
    group.paths.forEach((p, i) => r.checkListedSize(p, bufs[i].byteLength));
    parts.push(...bufs);
  }
  return {
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    weightSpecs: specs,
    weightData: toArrayBuffer(Buffer.concat(parts)),
  };
}

/** optimizer.json and optimizer.bin, checked; undefined when no optimizer was saved. */
function readOptimizerFiles(r: Reader): { meta: OptimizerMeta; data: ArrayBuffer } | undefined {
  if (!fs.existsSync(r.file("optimizer.json"))) {
    if (r.listed("optimizer.json")) throw r.missing("optimizer.json", "model.json");
    return undefined;
  }
  const size = fs.statSync(r.file("optimizer.json")).size;
  const meta = r.parse("optimizer.json") as any;
  if (!meta || typeof meta !== "object") throw r.damaged("optimizer.json", "it is not a JSON object");
  if (!meta.spec || typeof meta.spec !== "object" || !["sgd", "adam", "adamw"].includes(meta.spec.type)) {
    throw r.damaged("optimizer.json", `its spec names no known optimizer type (${JSON.stringify(meta.spec)})`);
  }
  if (!(typeof meta.lr === "number" && meta.lr > 0)) throw r.damaged("optimizer.json", `its lr is not a positive number (${JSON.stringify(meta.lr)})`);
  if (!Array.isArray(meta.specs) || !meta.specs.every(isWeightSpec)) throw r.damaged("optimizer.json", "its specs are not a list of tensor specs");
  r.checkListedSize("optimizer.json", size);
  if (!fs.existsSync(r.file("optimizer.bin"))) throw r.missing("optimizer.bin", "optimizer.json");
  const buf = fs.readFileSync(r.file("optimizer.bin"));
  const want = specBytes(meta.specs);
  if (want !== undefined && want !== buf.byteLength) throw r.damaged("optimizer.bin", `it has ${buf.byteLength} bytes but optimizer.json lists ${want}`);
  r.checkListedSize("optimizer.bin", buf.byteLength);
  return { meta: meta as OptimizerMeta, data: toArrayBuffer(buf) };
}

function isCount(v: unknown): boolean {
  return Number.isInteger(v) && (v as number) >= 0;
}

/** state.json parsed and checked; undefined when none was saved. */
function readStateFile(r: Reader): TrainingState | undefined {
  if (!fs.existsSync(r.file("state.json"))) {
    if (r.listed("state.json")) throw r.missing("state.json", "model.json");
    return undefined;
  }
  const size = fs.statSync(r.file("state.json")).size;
  const s = r.parse("state.json") as any;
  if (!s || typeof s !== "object" || Array.isArray(s)) throw r.damaged("state.json", "it is not a JSON object");
  if (s.version !== undefined && s.version !== 1) {
    throw new Error(`${r.who}: ${r.file("state.json")} has state version ${JSON.stringify(s.version)}, which this lepton does not know (it reads version 1); update lepton to use this checkpoint.`);
  }
  for (const key of ["epoch", "globalStep"]) {
    if (s[key] !== undefined && !isCount(s[key])) throw r.damaged("state.json", `its ${key} is ${JSON.stringify(s[key])}, not a count`);
  }
  if (s.seed !== undefined && !(typeof s.seed === "number" && Number.isFinite(s.seed))) throw r.damaged("state.json", `its seed is ${JSON.stringify(s.seed)}, not a number`);
  if (s.epochs !== undefined && !(Array.isArray(s.epochs) && s.epochs.every((e: unknown) => typeof e === "number"))) throw r.damaged("state.json", "its epochs is not a list of numbers");
  if (s.history !== undefined && !(s.history && typeof s.history === "object" && !Array.isArray(s.history) && Object.values(s.history).every(Array.isArray))) {
    throw r.damaged("state.json", "its history is not { metric: [values] }");
  }
  r.checkListedSize("state.json", size);
  return s as TrainingState;
}

// ---------------------------------------------------------------------------------------------
// Recovery of interrupted saves

/** Temporary and old folders of saves still running in this process (never cleaned up by recovery). */
const inProgress = new Set<string>();
let sequence = 0;

interface Leftover {
  path: string;
  kind: "tmp" | "old";
  pid: number;
  ms: number;
  seq: number;
}

function sibling(target: string, kind: "tmp" | "old"): string {
  return `${target}.${kind}-${process.pid}-${Date.now()}-${sequence++}`;
}

function leftovers(target: string): Leftover[] {
  const parent = path.dirname(target);
  const base = path.basename(target);
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return [];
  }
  const out: Leftover[] = [];
  for (const name of names) {
    for (const kind of ["tmp", "old"] as const) {
      const prefix = `${base}.${kind}-`;
      if (!name.startsWith(prefix)) continue;
      const m = /^(\d+)-(\d+)-(\d+)$/.exec(name.slice(prefix.length));
      if (m) out.push({ path: path.join(parent, name), kind, pid: Number(m[1]), ms: Number(m[2]), seq: Number(m[3]) });
    }
  }
  // Newest first.
  return out.sort((a, b) => b.ms - a.ms || b.seq - a.seq);
}

/** Whether `dir` holds a whole checkpoint: its model.json's commit record matches the files on disk. */
function isComplete(dir: string, allowLegacy: boolean): boolean {
  try {
    const json = JSON.parse(fs.readFileSync(path.join(dir, "model.json"), "utf8"));
    if (!isRecord(json?.lepton)) return allowLegacy && !!json?.modelTopology;
    return Object.entries(json.lepton.files).every(([name, size]) => fs.statSync(path.join(dir, name)).size === size);
  } catch {
    return false;
  }
}

/**
 * Repair what an interrupted save left next to `dir` (see the file header): if `dir` is missing, put
 * back the newest complete temporary folder (the newer save) or else the newest complete old one; then
 * delete the other leftovers. Returns whether `dir` now holds a checkpoint (has a model.json).
 */
export function recoverCheckpoint(dir: string): boolean {
  const target = path.resolve(dir);
  const found = leftovers(target);
  if (found.length > 0) {
    // This process's own saves in progress are in inProgress; its other leftovers are stale.
    const busy = (l: Leftover) => inProgress.has(l.path) || (l.pid !== process.pid && processAlive(l.pid));
    if (!fs.existsSync(target)) {
      const pick = found.find((l) => l.kind === "tmp" && isComplete(l.path, false)) ?? found.find((l) => l.kind === "old" && isComplete(l.path, true));
      if (pick) {
        try {
          fs.renameSync(pick.path, target);
          fsyncDir(path.dirname(target));
        } catch (err) {
          // Another process may have put its checkpoint in place at the same moment.
          if (!fs.existsSync(target)) throw err;
        }
      }
    }
    // Without `dir`, only incomplete temporary folders go (an old folder may be all there is).
    const exists = fs.existsSync(target);
    for (const l of found) {
      if (!fs.existsSync(l.path) || busy(l) || (!exists && l.kind === "old")) continue;
      fs.rmSync(l.path, { recursive: true, force: true });
    }
  }
  return fs.existsSync(path.join(target, "model.json"));
}

// ---------------------------------------------------------------------------------------------
// Public API

/** An IOHandler that writes model.json + weights.bin into `dir` (which must exist), and reads them back checked. */
export function nodeFsHandler(dir: string): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const weights = artifacts.weightData ? joinBuffers(artifacts.weightData as ArrayBuffer | ArrayBuffer[]) : Buffer.alloc(0);
      writeDurable(path.join(dir, "weights.bin"), weights);
      writeDurable(path.join(dir, "model.json"), JSON.stringify(modelJsonOf(artifacts)));
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: "JSON",
          weightDataBytes: weights.byteLength,
        },
      };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      return readArtifacts(new Reader(path.resolve(dir), "load"));
    },
  };
}

/**
 * Save a model (and optionally its optimizer and a training state) to folder `dir`, replacing what is
 * there atomically: a process killed at any point leaves the previous or the new checkpoint under `dir`.
 */
export async function save(dir: string, model: tf.LayersModel, optimizer?: Optimizer, state?: TrainingState): Promise<void> {
  if (!model || typeof (model as any).save !== "function") throw new Error("save(dir, model): model must be a tf.LayersModel.");
  const target = path.resolve(dir);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  recoverCheckpoint(target);
  const tmp = sibling(target, "tmp");
  let old: string | undefined;
  let moved = false;
  inProgress.add(tmp);
  try {
    fs.mkdirSync(tmp);
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }));
    const files: { [name: string]: number } = {};
    const write = (name: string, data: Buffer | string) => void (files[name] = writeDurable(path.join(tmp, name), data));
    write("weights.bin", artifacts!.weightData ? joinBuffers(artifacts!.weightData as ArrayBuffer | ArrayBuffer[]) : Buffer.alloc(0));
    if (optimizer) {
      const weights = await optimizer.getWeights();
      try {
        const { data, specs } = await tf.io.encodeWeights(weights);
        write("optimizer.bin", Buffer.from(data));
        write("optimizer.json", JSON.stringify({ spec: optimizer.spec, lr: optimizer.lr, baseLr: optimizer.baseLr, specs }));
      } finally {
        tf.dispose(weights.map((w) => w.tensor));
      }
    }
    if (state) write("state.json", JSON.stringify(state));
    // The commit record, last: from here on the folder is a complete checkpoint.
    writeDurable(path.join(tmp, "model.json"), JSON.stringify(modelJsonOf(artifacts!, { version: RECORD_VERSION, files, savedAt: new Date().toISOString() })));
    fsyncDir(tmp);
    // Swap in: move the old folder aside, rename the new one, then delete the old one.
    if (fs.existsSync(target)) {
      old = sibling(target, "old");
      inProgress.add(old);
      fs.renameSync(target, old);
      moved = true;
    }
    fs.renameSync(tmp, target);
    fsyncDir(path.dirname(target));
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (moved && !fs.existsSync(target)) fs.renameSync(old!, target);
    throw err;
  } finally {
    inProgress.delete(tmp);
    if (old) inProgress.delete(old);
  }
  if (old && fs.existsSync(old)) fs.rmSync(old, { recursive: true, force: true });
}

/** The compatibility checks of saved optimizer state against the optimizer it is to go into. */
function checkOptimizerFits(r: Reader, meta: OptimizerMeta, target: Optimizer, model?: tf.LayersModel): void {
  const saved = optimizerStateKind(meta.spec);
  const wanted = optimizerStateKind(target.spec);
  if (saved !== wanted) {
    const suggest = saved === "momentum" ? `{ type: "sgd", momentum: ${meta.spec.momentum ?? 0}${meta.spec.nesterov ? ", nesterov: true" : ""} }` : `"${meta.spec.type}"`;
    throw new Error(
      `${r.who}: the checkpoint in ${r.dir} holds the state of ${describeOptimizer(meta.spec)} but the optimizer to restore it into is ` +
        `${describeOptimizer(target.spec)}; they keep different state, so it cannot be loaded. Pass optimizer: ${suggest} to resume with the ` +
        `saved optimizer's type, or omit optimizer to use the saved one.`,
    );
  }
  const names = meta.specs.map((s) => s.name).filter((n) => n !== "iter");
  const iters = meta.specs.length - names.length;
  const half = names.length / 2;
  const layoutOk: { [k in OptimizerStateKind]: () => boolean } = {
    sgd: () => names.length === 0,
    momentum: () => names.every((n) => n.endsWith("/momentum")),
    adam: () => names.length % 2 === 0 && names.every((n, i) => n.endsWith(i < half ? "/m" : "/v")),
    adamw: () => layoutOk.adam(),
  };
  if (iters > 1 || (iters === 1 && meta.specs[0].name !== "iter") || !layoutOk[saved]()) {
    const shown = meta.specs.slice(0, 4).map((s) => s.name).join(", ") + (meta.specs.length > 4 ? ", ..." : "");
    throw r.damaged("optimizer.json", `its ${meta.specs.length} state tensors (${shown}) are not those of ${describeOptimizer(meta.spec)}, which its spec names`);
  }
  if (model && names.length > 0) {
    const perWeight = saved === "momentum" ? 1 : 2;
    const covered = names.length / perWeight;
    const trainable = model.trainableWeights.length;
    if (covered !== trainable) {
      throw new Error(
        `${r.who}: the optimizer state in ${r.dir} covers ${covered} weight tensors but the model has ${trainable} trainable ones; ` +
          `pass the same architecture (with the same layers frozen) that was saved.`,
      );
    }
  }
}

async function restoreOptimizerState(optimizer: Optimizer, data: ArrayBuffer, specs: tf.io.WeightsManifestEntry[]): Promise<void> {
  if (specs.length === 0) return;
  const map = tf.io.decodeWeights(data, specs);
  const list = specs.map((s) => ({ name: s.name, tensor: map[s.name] }));
  try {
    await optimizer.setWeights(list);
  } finally {
    tf.dispose(Object.values(map));
  }
}

async function buildOptimizer(r: Reader, files = readOptimizerFiles(r), model?: tf.LayersModel): Promise<Optimizer | undefined> {
  if (!files) return undefined;
  const { meta, data } = files;
  let optimizer: Optimizer;
  try {
    optimizer = new Optimizer({ ...meta.spec, lr: meta.baseLr ?? meta.spec.lr });
  } catch (err) {
    throw r.damaged("optimizer.json", `its spec is not valid (${(err as Error).message})`);
  }
  try {
    optimizer.setStepLr(meta.lr);
    checkOptimizerFits(r, meta, optimizer, model);
    await restoreOptimizerState(optimizer, data, meta.specs);
  } catch (err) {
    optimizer.dispose();
    throw err;
  }
  return optimizer;
}

/** Load what `save` wrote: the model, its optimizer (with state) if saved, and the training state. */
export async function load(dir: string): Promise<Loaded> {
  const target = path.resolve(dir);
  recoverCheckpoint(target);
  if (!fs.existsSync(target)) throw new Error(`load: folder ${target} does not exist.`);
  const r = new Reader(target, "load");
  // Check every file before building anything.
  const artifacts = readArtifacts(r);
  const optimizerFiles = readOptimizerFiles(r);
  const state = readStateFile(r) ?? { epoch: 0 };
  const model = await tf.loadLayersModel({ load: async () => artifacts });
  let optimizer: Optimizer | undefined;
  try {
    optimizer = await buildOptimizer(r, optimizerFiles, model);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { model, optimizer, epoch: state.epoch ?? 0, state };
}

/**
 * The optimizer saved in `dir` (its type and spec, its step LR and baseLr, with its state), or
 * undefined when none was saved: to resume without an optimizer option. The caller disposes it. With
 * `model`, the state must cover its trainable weights (as in loadOptimizerState).
 */
export async function loadOptimizer(dir: string, model?: tf.LayersModel): Promise<Optimizer | undefined> {
  const target = path.resolve(dir);
  recoverCheckpoint(target);
  const r = new Reader(target, "load");
  return buildOptimizer(r, readOptimizerFiles(r), model);
}

/**
 * Read the optimizer state saved in `dir` into an existing optimizer (used to resume). Returns false
 * when no optimizer was saved. Throws, changing nothing, when the saved optimizer keeps different state
 * (another type, or SGD with momentum vs plain SGD), or when `model` is given and the state covers a
 * different number of trainable weights.
 */
export async function loadOptimizerState(dir: string, optimizer: Optimizer, model?: tf.LayersModel): Promise<boolean> {
  const target = path.resolve(dir);
  recoverCheckpoint(target);
  const r = new Reader(target, "resume");
  const files = readOptimizerFiles(r);
  if (!files) return false;
  checkOptimizerFits(r, files.meta, optimizer, model);
  await restoreOptimizerState(optimizer, files.data, files.meta.specs);
  return true;
}

/**
 * The training state saved in `dir` (state.json), checked, or undefined when none was saved. Throws an
 * Error naming the file when it is damaged.
 */
export function readState(dir: string): TrainingState | undefined {
  const target = path.resolve(dir);
  recoverCheckpoint(target);
  return readStateFile(new Reader(target, "resume"));
}

/** Copy `model`'s architecture-compatible weights from a saved folder into it (used to resume). */
export async function loadWeightsInto(dir: string, model: tf.LayersModel): Promise<void> {
  const target = path.resolve(dir);
  recoverCheckpoint(target);
  const artifacts = readArtifacts(new Reader(target, "resume"));
  const map = tf.io.decodeWeights(artifacts.weightData!, artifacts.weightSpecs!);
  try {
    const saved = artifacts.weightSpecs!.map((s) => map[s.name]);
    const own = model.weights;
    if (saved.length !== own.length) {
      throw new Error(`resume: the checkpoint in ${dir} has ${saved.length} weight tensors but the model has ${own.length}; pass the same architecture.`);
    }
    own.forEach((w, i) => {
      if (w.shape.join(",") !== saved[i].shape.join(",")) {
        throw new Error(`resume: weight ${i} (${w.name}) has shape [${w.shape}] but the checkpoint's has [${saved[i].shape}]; pass the same architecture.`);
      }
    });
    model.setWeights(saved);
  } finally {
    tf.dispose(Object.values(map));
  }
}
