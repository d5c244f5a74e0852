/**
 * Save and load a model with its optimizer and training state to a folder, with plain Node fs:
 *   model.json      tfjs layers format (topology + weights manifest)
 *   weights.bin     the model weights
 *   optimizer.json  the optimizer spec and the specs of its state tensors
 *   optimizer.bin   the optimizer state (moments, iteration count)
 *   state.json      training state (epochs done, history)
 * Writes are atomic: everything goes to a temporary sibling folder that is renamed into place.
 */
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { Optimizer, type OptimizerSpec } from "./optimizers";

export interface TrainingState {
  /** Epochs completed. */
  epoch: number;
  /** Per-epoch metrics so far (loss, accuracy, val_loss, ...). */
  history?: { [metric: string]: number[] };
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

function joinBuffers(data: ArrayBuffer | ArrayBuffer[]): Buffer {
  return Array.isArray(data) ? Buffer.concat(data.map((b) => Buffer.from(b))) : Buffer.from(data);
}

function toArrayBuffer(buf: Buffer): ArrayBuffer {
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
}

/** An IOHandler that writes model.json + weights.bin into `dir` (which must exist). */
export function nodeFsHandler(dir: string): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const weights = artifacts.weightData ? joinBuffers(artifacts.weightData as ArrayBuffer | ArrayBuffer[]) : Buffer.alloc(0);
      const modelJson = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? "layers-model",
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: ["weights.bin"], weights: artifacts.weightSpecs ?? [] }],
      };
      fs.writeFileSync(path.join(dir, "weights.bin"), weights);
      fs.writeFileSync(path.join(dir, "model.json"), JSON.stringify(modelJson));
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: "JSON",
          weightDataBytes: weights.byteLength,
        },
      };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      const jsonPath = path.join(dir, "model.json");
      if (!fs.existsSync(jsonPath)) throw new Error(`load: no model.json in ${dir}; is this a folder written by lepton.save()?`);
      const json = JSON.parse(fs.readFileSync(jsonPath, "utf8"));
      const manifest = json.weightsManifest as { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
      const specs: tf.io.WeightsManifestEntry[] = [];
      const parts: Buffer[] = [];
      for (const group of manifest) {
        specs.push(...group.weights);
        for (const p of group.paths) parts.push(fs.readFileSync(path.join(dir, p)));
      }
      return {
        modelTopology: json.modelTopology,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        weightSpecs: specs,
        weightData: toArrayBuffer(Buffer.concat(parts)),
      };
    },
  };
}

/**
 * Save a model (and optionally its optimizer and a training state) to folder `dir`, replacing
 * what is there atomically: a crash mid-write leaves the previous save intact.
 */
export async function save(dir: string, model: tf.LayersModel, optimizer?: Optimizer, state?: TrainingState): Promise<void> {
  if (!model || typeof (model as any).save !== "function") throw new Error("save(dir, model): model must be a tf.LayersModel.");
  const target = path.resolve(dir);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
  fs.mkdirSync(tmp, { recursive: true });
  try {
    await model.save(nodeFsHandler(tmp));
    if (optimizer) {
      const weights = await optimizer.getWeights();
      try {
        const { data, specs } = await tf.io.encodeWeights(weights);
        fs.writeFileSync(path.join(tmp, "optimizer.bin"), Buffer.from(data));
        fs.writeFileSync(path.join(tmp, "optimizer.json"), JSON.stringify({ spec: optimizer.spec, lr: optimizer.lr, baseLr: optimizer.baseLr, specs }));
      } finally {
        tf.dispose(weights.map((w) => w.tensor));
      }
    }
    if (state) fs.writeFileSync(path.join(tmp, "state.json"), JSON.stringify(state));
    // Swap in: move the old folder aside, rename the new one, then delete the old one.
    const old = `${target}.old-${process.pid}-${Date.now()}`;
    const existed = fs.existsSync(target);
    if (existed) fs.renameSync(target, old);
    fs.renameSync(tmp, target);
    if (existed) fs.rmSync(old, { recursive: true, force: true });
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Load what `save` wrote: the model, its optimizer (with state) if saved, and the training state. */
export async function load(dir: string): Promise<Loaded> {
  const target = path.resolve(dir);
  if (!fs.existsSync(target)) throw new Error(`load: folder ${target} does not exist.`);
  const model = await tf.loadLayersModel(nodeFsHandler(target));
  let optimizer: Optimizer | undefined;
  const optJson = path.join(target, "optimizer.json");
  if (fs.existsSync(optJson)) {
    const meta = JSON.parse(fs.readFileSync(optJson, "utf8")) as { spec: OptimizerSpec; lr: number; baseLr?: number; specs: tf.io.WeightsManifestEntry[] };
    optimizer = new Optimizer({ ...meta.spec, lr: meta.baseLr ?? meta.spec.lr });
    optimizer.setStepLr(meta.lr);
    await restoreOptimizerState(optimizer, toArrayBuffer(fs.readFileSync(path.join(target, "optimizer.bin"))), meta.specs);
  }
  const statePath = path.join(target, "state.json");
  const state: TrainingState = fs.existsSync(statePath) ? JSON.parse(fs.readFileSync(statePath, "utf8")) : { epoch: 0 };
  return { model, optimizer, epoch: state.epoch ?? 0, state };
}

/** Read the optimizer state saved in `dir` into an existing optimizer (used to resume). */
export async function loadOptimizerState(dir: string, optimizer: Optimizer): Promise<boolean> {
  const optJson = path.join(dir, "optimizer.json");
  if (!fs.existsSync(optJson)) return false;
  const meta = JSON.parse(fs.readFileSync(optJson, "utf8")) as { specs: tf.io.WeightsManifestEntry[] };
  await restoreOptimizerState(optimizer, toArrayBuffer(fs.readFileSync(path.join(dir, "optimizer.bin"))), meta.specs);
  return true;
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

/** Copy `model`'s architecture-compatible weights from a saved folder into it (used to resume). */
export async function loadWeightsInto(dir: string, model: tf.LayersModel): Promise<void> {
  const artifacts = await nodeFsHandler(path.resolve(dir)).load!();
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
