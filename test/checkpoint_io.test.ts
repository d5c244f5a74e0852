/**
 * Checkpoints on real files: atomic, crash-safe saves (a child process killed with SIGKILL at random
 * moments, and the on-disk states a kill leaves, made by hand), damaged files refused with a message
 * naming the file, optimizer state never loaded into an optimizer that keeps different state, and no
 * leaked tensors on any path.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { transpileWithImports } from "./transpile";
import { ready } from "../src/backend";
import { save, load, loadWeightsInto, loadOptimizerState, loadOptimizer, readState, recoverCheckpoint, nodeFsHandler } from "../src/training/checkpoint_io";
import { Optimizer, type OptimizerSpec } from "../src/training/optimizers";

const ROOT = path.resolve(__dirname, "..");
const SAVER = path.join(ROOT, "test", "fixtures", "checkpoint", "saver.js");
const UNUSABLE = "the checkpoint cannot be used (save it again, or resume from an earlier one).";
let scratch: string;

beforeAll(async () => {
  await ready();
  await tf.setBackend("cpu");
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), "lepton-ckpt-"));
});
afterAll(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
});

function tmpDir(): string {
  return fs.mkdtempSync(path.join(scratch, "t-"));
}

/** A small model whose weights are all `value`. */
function model(value: number, units = 3): tf.LayersModel {
  const m = tf.sequential({ layers: [tf.layers.dense({ units: 5, inputShape: [4] }), tf.layers.dense({ units })] });
  const filled = m.weights.map((w) => tf.fill(w.shape as number[], value));
  m.setWeights(filled);
  tf.dispose(filled);
  return m;
}

/** An optimizer of `spec` whose state (moments / velocities) is all `value` and iter = `value`. */
async function optimizerWithState(spec: OptimizerSpec, m: tf.LayersModel, value: number): Promise<Optimizer> {
  const opt = new Optimizer(spec);
  const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
  const iter = tf.scalar(value, "int32");
  const filled = vars.map((v) => tf.fill(v.shape, value));
  const kind = spec.type === "sgd" ? ((spec.momentum ?? 0) > 0 || spec.nesterov ? "momentum" : "sgd") : "adam";
  const named = kind === "sgd" ? [] : kind === "momentum"
    ? vars.map((v, i) => ({ name: `${v.name}/momentum`, tensor: filled[i] }))
    : [...vars.map((v, i) => ({ name: `${v.name}/m`, tensor: filled[i] })), ...vars.map((v, i) => ({ name: `${v.name}/v`, tensor: filled[i] }))];
  await opt.setWeights([{ name: "iter", tensor: iter }, ...named]);
  tf.dispose([iter, ...filled]);
  return opt;
}

/** Save version `n`: weights n, Adam state n, step LR n/1000, state { epoch: n, globalStep: 10n }. */
async function saveVersion(dir: string, n: number, spec: OptimizerSpec = { type: "adam", lr: 0.001 }): Promise<void> {
  const m = model(n);
  const opt = await optimizerWithState(spec, m, n);
  opt.setStepLr(n / 1000);
  await save(dir, m, opt, { version: 1, epoch: n, globalStep: 10 * n, history: { loss: [1, 0.5] }, epochs: [1, 2] });
  opt.dispose();
  m.dispose();
}

function values(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}

/** Load `dir` and check that every file came from one save (returns its number); leaks nothing. */
async function loadVersion(dir: string): Promise<number> {
  const before = tf.memory().numTensors;
  const loaded = await load(dir);
  const n = loaded.epoch;
  try {
    expect(loaded.state.globalStep).toBe(10 * n);
    for (const w of loaded.model.getWeights()) expect(new Set(values(w))).toEqual(new Set([n]));
    const opt = loaded.optimizer!;
    expect(opt.spec.type).toBe("adam");
    expect(opt.lr).toBe(n / 1000);
    const state = await opt.getWeights();
    expect(state[0].name).toBe("iter");
    expect(values(state[0].tensor)).toEqual([n]);
    expect(state.length).toBe(1 + 2 * loaded.model.trainableWeights.length);
    for (const s of state.slice(1)) expect(new Set(values(s.tensor))).toEqual(new Set([n]));
    tf.dispose(state.map((s) => s.tensor));
  } finally {
    loaded.model.dispose();
    loaded.optimizer?.dispose();
  }
  expect(tf.memory().numTensors).toBe(before);
  return n;
}

/** The other entries next to `dir` (leftovers of interrupted saves). */
function siblings(dir: string): string[] {
  return fs.readdirSync(path.dirname(dir)).filter((n) => n !== path.basename(dir)).sort();
}

/** Rewrite a JSON file of a checkpoint and keep model.json's record of its size right. */
function rewriteJson(dir: string, file: string, change: (json: any) => void): void {
  const json = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8"));
  change(json);
  fs.writeFileSync(path.join(dir, file), JSON.stringify(json));
  const modelJson = JSON.parse(fs.readFileSync(path.join(dir, "model.json"), "utf8"));
  modelJson.lepton.files[file] = fs.statSync(path.join(dir, file)).size;
  fs.writeFileSync(path.join(dir, "model.json"), JSON.stringify(modelJson));
}

/** Expect `run` to reject with exactly `message` (a string) or matching it, leaking no tensors. */
async function refuses(run: () => Promise<unknown>, message: string | RegExp): Promise<void> {
  const before = tf.memory().numTensors;
  let error: Error | undefined;
  try {
    await run();
  } catch (err) {
    error = err as Error;
  }
  expect(error, "it should have thrown").toBeDefined();
  if (typeof message === "string") expect(error!.message).toBe(message);
  else expect(error!.message).toMatch(message);
  expect(tf.memory().numTensors).toBe(before);
}

describe("save and load", () => {
  it("round-trip model, optimizer, state; model.json records every file; no leftovers, no leaked tensors", async () => {
    const dir = path.join(tmpDir(), "ck");
    const before = tf.memory().numTensors;
    await saveVersion(dir, 3);
    await saveVersion(dir, 4); // replaces in place
    expect(tf.memory().numTensors).toBe(before);
    expect(fs.readdirSync(dir).sort()).toEqual(["model.json", "optimizer.bin", "optimizer.json", "state.json", "weights.bin"]);
    expect(siblings(dir)).toEqual([]);
    const record = JSON.parse(fs.readFileSync(path.join(dir, "model.json"), "utf8")).lepton;
    expect(record.version).toBe(1);
    for (const f of ["weights.bin", "optimizer.bin", "optimizer.json", "state.json"]) expect(record.files[f]).toBe(fs.statSync(path.join(dir, f)).size);
    expect(await loadVersion(dir)).toBe(4);
    const state = readState(dir)!;
    expect(state).toEqual({ version: 1, epoch: 4, globalStep: 40, history: { loss: [1, 0.5] }, epochs: [1, 2] });
    expect(readState(tmpDir())).toBeUndefined();

    // loadWeightsInto and loadOptimizerState into existing objects.
    const m = model(0);
    const opt = new Optimizer("adam");
    await loadWeightsInto(dir, m);
    expect(await loadOptimizerState(dir, opt, m)).toBe(true);
    for (const w of m.getWeights()) expect(new Set(values(w))).toEqual(new Set([4]));
    const s = await opt.getWeights();
    expect(s.length).toBe(1 + 2 * m.trainableWeights.length);
    s.forEach((t) => expect(new Set(values(t.tensor))).toEqual(new Set([4])));
    tf.dispose(s.map((t) => t.tensor));
    opt.dispose();
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("a checkpoint without an optimizer or state loads; loadOptimizer gives undefined, loadOptimizerState false", async () => {
    const dir = path.join(tmpDir(), "bare");
    const m = model(2);
    await save(dir, m);
    const before = tf.memory().numTensors;
    const loaded = await load(dir);
    expect(loaded.optimizer).toBeUndefined();
    expect(loaded.epoch).toBe(0);
    expect(loaded.state).toEqual({ epoch: 0 });
    loaded.model.dispose();
    expect(await loadOptimizer(dir)).toBeUndefined();
    const opt = new Optimizer("sgd");
    expect(await loadOptimizerState(dir, opt)).toBe(false);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
    await refuses(() => load(path.join(scratch, "nowhere")), `load: folder ${path.join(scratch, "nowhere")} does not exist.`);
    await refuses(() => load(tmpDir()), /no model\.json in .*; is this a folder written by lepton\.save\(\)\?/);
  });

  it("a checkpoint written before the commit record (legacy model.json) still loads", async () => {
    const dir = path.join(tmpDir(), "legacy");
    await saveVersion(dir, 6);
    const json = JSON.parse(fs.readFileSync(path.join(dir, "model.json"), "utf8"));
    delete json.lepton;
    fs.writeFileSync(path.join(dir, "model.json"), JSON.stringify(json));
    expect(await loadVersion(dir)).toBe(6);
    // The plain IOHandler round-trips too.
    const m = model(1);
    const plain = tmpDir();
    await m.save(nodeFsHandler(plain));
    const back = await tf.loadLayersModel(nodeFsHandler(plain));
    expect(values(back.getWeights()[0])).toEqual(values(m.getWeights()[0]));
    m.dispose();
    back.dispose();
  });

  it("loadOptimizer rebuilds the saved optimizer (type, spec, lr, baseLr, state) for resume without an optimizer option", async () => {
    const dir = path.join(tmpDir(), "opt");
    const m = model(1);
    const opt = await optimizerWithState({ type: "sgd", lr: 0.2, momentum: 0.8, nesterov: true, weightDecay: 1e-4 }, m, 7);
    opt.setStepLr(0.05);
    await save(dir, m, opt, { epoch: 1 });
    const before = tf.memory().numTensors;
    const back = (await loadOptimizer(dir))!;
    expect(back).toBeInstanceOf(Optimizer);
    expect(back.spec).toEqual(opt.spec);
    expect(back.baseLr).toBe(0.2);
    expect(back.lr).toBe(0.05);
    const [a, b] = [await opt.getWeights(), await back.getWeights()];
    expect(b.map((t) => t.name)).toEqual(a.map((t) => t.name));
    expect(b.map((t) => values(t.tensor))).toEqual(a.map((t) => values(t.tensor)));
    tf.dispose([...a, ...b].map((t) => t.tensor));
    // One step from each with the same gradients gives the same weights.
    const [m1, m2] = [model(1), model(1)];
    for (const [mm, o] of [[m1, opt], [m2, back]] as const) {
      const vars = mm.trainableWeights.map((w) => w.read() as tf.Variable);
      const grads: tf.NamedTensorMap = {};
      vars.forEach((v) => (grads[v.name] = tf.onesLike(v)));
      o.apply(grads, vars);
      tf.dispose(Object.values(grads));
    }
    expect(m2.getWeights().map(values)).toEqual(m1.getWeights().map(values));
    back.dispose();
    m1.dispose();
    m2.dispose();
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    m.dispose();
  });
});

describe("crash safety", () => {
  /** The state a save killed between its two renames leaves: no `dir`, `dir` aside as old, the new one as tmp. */
  async function betweenRenames(newComplete = true): Promise<{ dir: string; old: string; tmp: string }> {
    const dir = path.join(tmpDir(), "ck");
    const staging = path.join(path.dirname(dir), "staging");
    await saveVersion(dir, 1);
    await saveVersion(staging, 2);
    if (!newComplete) fs.truncateSync(path.join(staging, "optimizer.bin"), 100);
    // A pid that is no longer running: the saving process was killed.
    const dead = spawn(process.execPath, ["-e", ""]);
    await new Promise((resolve) => dead.on("exit", resolve));
    const t = Date.now();
    const old = `${dir}.old-${dead.pid}-${t}-0`;
    const tmp = `${dir}.tmp-${dead.pid}-${t - 5}-1`;
    fs.renameSync(dir, old);
    fs.renameSync(staging, tmp);
    expect(fs.existsSync(dir)).toBe(false);
    return { dir, old, tmp };
  }

  it("killed between the two renames: load finds the new checkpoint under its own name and removes the rest", async () => {
    const { dir } = await betweenRenames();
    expect(await loadVersion(dir)).toBe(2);
    expect(siblings(dir)).toEqual([]);
  });

  it("killed between the renames with an incomplete tmp: the old checkpoint comes back", async () => {
    const { dir } = await betweenRenames(false);
    expect(await loadVersion(dir)).toBe(1);
    expect(siblings(dir)).toEqual([]);
  });

  it("the next save recovers too, and so do loadWeightsInto, loadOptimizerState, readState and recoverCheckpoint", async () => {
    let { dir } = await betweenRenames();
    await saveVersion(dir, 3);
    expect(siblings(dir)).toEqual([]);
    expect(await loadVersion(dir)).toBe(3);

    ({ dir } = await betweenRenames());
    const m = model(0);
    await loadWeightsInto(dir, m);
    expect(new Set(values(m.getWeights()[0]))).toEqual(new Set([2]));
    m.dispose();

    ({ dir } = await betweenRenames());
    const opt = new Optimizer("adam");
    expect(await loadOptimizerState(dir, opt)).toBe(true);
    opt.dispose();
    expect(siblings(dir)).toEqual([]);

    ({ dir } = await betweenRenames());
    expect(readState(dir)!.epoch).toBe(2);

    ({ dir } = await betweenRenames());
    expect(fs.existsSync(path.join(dir, "model.json"))).toBe(false);
    expect(recoverCheckpoint(dir)).toBe(true);
    expect(readState(dir)!.epoch).toBe(2);
    expect(recoverCheckpoint(path.join(scratch, "never-saved"))).toBe(false);
  });

  it("with the checkpoint in place, stale tmp and half-deleted old folders are removed, but not those of a live saver", async () => {
    const dir = path.join(tmpDir(), "ck");
    await saveVersion(dir, 5);
    const t = Date.now();
    await saveVersion(`${dir}.tmp-999999999-${t}-0`, 9); // complete but never swapped in: the dir is newer by rule
    fs.mkdirSync(`${dir}.tmp-999999998-${t}-0`); // a save killed while writing
    fs.mkdirSync(`${dir}.old-999999997-${t}-0`); // a save killed while deleting the old one
    fs.writeFileSync(`${dir}.old-999999997-${t}-0/weights.bin`, "x");
    const sleeper = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"]);
    const live = `${dir}.tmp-${sleeper.pid}-${t}-0`;
    fs.mkdirSync(live);
    try {
      expect(await loadVersion(dir)).toBe(5);
      expect(siblings(dir)).toEqual([path.basename(live)]);
    } finally {
      sleeper.kill("SIGKILL");
    }
    await new Promise((resolve) => sleeper.on("exit", resolve));
    await saveVersion(dir, 6);
    expect(siblings(dir)).toEqual([]);
    expect(await loadVersion(dir)).toBe(6);
    // A folder merely named like the checkpoint is not touched.
    fs.mkdirSync(`${dir}.tmp-notes`);
    await saveVersion(dir, 7);
    expect(siblings(dir)).toEqual([`${path.basename(dir)}.tmp-notes`]);
  });

  it("a child saving in a loop, killed with SIGKILL at random moments 25 times, always leaves a loadable checkpoint that is one whole save", async () => {
    // The child runs the TypeScript sources, transpiled here (dist/ may be older than src/).
    const lib = path.join(tmpDir(), "lib");
    transpileWithImports(path.join(ROOT, "src"), ["training/checkpoint_io.ts", "training/optimizers.ts"], lib);
    const dir = path.join(tmpDir(), "ck");
    const env = { ...process.env, NODE_PATH: path.join(ROOT, "node_modules") };
    let previous = 0;
    let withLeftovers = 0;
    const loadedEpochs: number[] = [];
    for (let kill = 0; kill < 25; kill++) {
      const child = spawn(process.execPath, [SAVER, path.join(lib, "training"), dir], { env, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      let started: number | undefined;
      let lastSaved = 0;
      const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
      await new Promise<void>((resolve, reject) => {
        const delay = Math.random() * 40;
        child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
        child.stdout.setEncoding("utf8").on("data", (d: string) => {
          out += d;
          const lines = out.split("\n").slice(0, -1);
          for (const line of lines) {
            const [word, n] = line.split(" ");
            if (word === "start" && started === undefined) {
              started = Number(n);
              // The first child must finish one save so that there is a checkpoint to keep.
              if (started > 0) setTimeout(() => (child.kill("SIGKILL"), resolve()), delay);
            }
            if (word === "saved") {
              lastSaved = Number(n);
              if (started === 0 && lastSaved === 1) setTimeout(() => (child.kill("SIGKILL"), resolve()), delay);
            }
          }
        });
        child.on("exit", (code, signal) => {
          if (signal !== "SIGKILL") reject(new Error(`saver exited by itself (${code} ${signal}): ${err}`));
        });
      });
      await exited;
      // Parse what the child said before it died.
      for (const line of out.split("\n")) if (line.startsWith("saved ")) lastSaved = Number(line.slice(6));
      expect(started).toBe(previous);
      if (siblings(dir).length > 0) withLeftovers++;
      const n = await loadVersion(dir); // every file of one save, under the name `dir`
      expect(siblings(dir)).toEqual([]); // load recovered or removed the leftovers
      expect(n).toBeGreaterThanOrEqual(Math.max(lastSaved, previous, 1));
      expect(n).toBeLessThanOrEqual(Math.max(lastSaved, previous) + 1);
      loadedEpochs.push(n);
      previous = n;
    }
    // The kills did land inside saves (the child spends most of its time saving).
    expect(withLeftovers).toBeGreaterThan(0);
    expect(new Set(loadedEpochs).size).toBeGreaterThan(1); // and the children got saves done between kills
    if (process.env.LEPTON_TEST_VERBOSE) console.log(`kills: 25, with leftovers: ${withLeftovers}, epochs loaded: ${loadedEpochs.join(" ")}`);
  });
});

describe("damaged checkpoints are refused, naming the file", () => {
  async function fresh(): Promise<string> {
    const dir = path.join(tmpDir(), "ck");
    await saveVersion(dir, 1);
    return dir;
  }
  const f = (dir: string, name: string) => path.join(dir, name);

  it("truncated weights.bin: load, loadWeightsInto", async () => {
    const dir = await fresh();
    const size = fs.statSync(f(dir, "weights.bin")).size;
    expect(size).toBe((4 * 5 + 5 + 5 * 3 + 3) * 4);
    fs.truncateSync(f(dir, "weights.bin"), 100);
    await refuses(() => load(dir), `load: ${f(dir, "weights.bin")} is damaged: it has 100 bytes but model.json lists ${size}; ${UNUSABLE}`);
    const m = model(0);
    await refuses(() => loadWeightsInto(dir, m), `resume: ${f(dir, "weights.bin")} is damaged: it has 100 bytes but model.json lists ${size}; ${UNUSABLE}`);
    expect(new Set(values(m.getWeights()[0]))).toEqual(new Set([0])); // untouched
    m.dispose();
    // Padded (longer) is refused too, as is a size that disagrees with the commit record only.
    fs.writeFileSync(f(dir, "weights.bin"), Buffer.alloc(size + 8));
    await refuses(() => load(dir), `load: ${f(dir, "weights.bin")} is damaged: it has ${size + 8} bytes but model.json lists ${size}; ${UNUSABLE}`);
  });

  it("broken state.json: load and readState; a state version from a newer lepton is refused", async () => {
    const dir = await fresh();
    const text = fs.readFileSync(f(dir, "state.json"), "utf8");
    fs.writeFileSync(f(dir, "state.json"), text.slice(0, 10));
    await refuses(() => load(dir), new RegExp(`^load: ${escape(f(dir, "state.json"))} is damaged: it is not valid JSON \\(.*\\); ${escape(UNUSABLE)}$`));
    expect(() => readState(dir)).toThrow(new RegExp(`^resume: ${escape(f(dir, "state.json"))} is damaged: it is not valid JSON`));
    fs.writeFileSync(f(dir, "state.json"), text);
    rewriteJson(dir, "state.json", (s) => Object.assign(s, { epoch: "two" }));
    expect(() => readState(dir)).toThrow(`resume: ${f(dir, "state.json")} is damaged: its epoch is "two", not a count; ${UNUSABLE}`);
    rewriteJson(dir, "state.json", (s) => Object.assign(s, { epoch: -1 }));
    expect(() => readState(dir)).toThrow(`resume: ${f(dir, "state.json")} is damaged: its epoch is -1, not a count; ${UNUSABLE}`);
    rewriteJson(dir, "state.json", (s) => Object.assign(s, { epoch: 1, version: 2 }));
    expect(() => readState(dir)).toThrow(/has state version 2, which this lepton does not know \(it reads version 1\); update lepton/);
  });

  it("broken model.json: load, loadWeightsInto, loadOptimizerState", async () => {
    const dir = await fresh();
    const text = fs.readFileSync(f(dir, "model.json"), "utf8");
    fs.writeFileSync(f(dir, "model.json"), text.slice(0, text.length - 20));
    const damaged = (who: string) => new RegExp(`^${who}: ${escape(f(dir, "model.json"))} is damaged: it is not valid JSON \\(.*\\); ${escape(UNUSABLE)}$`);
    await refuses(() => load(dir), damaged("load"));
    const m = model(0);
    await refuses(() => loadWeightsInto(dir, m), damaged("resume"));
    m.dispose();
    const opt = new Optimizer("adam");
    await refuses(() => loadOptimizerState(dir, opt), damaged("resume"));
    opt.dispose();
    fs.writeFileSync(f(dir, "model.json"), JSON.stringify({ modelTopology: {}, weightsManifest: "no" }));
    await refuses(() => load(dir), /model\.json is damaged: its weightsManifest is not a list/);
  });

  it("truncated optimizer.bin and broken optimizer.json: load, loadOptimizer, loadOptimizerState", async () => {
    const dir = await fresh();
    const size = fs.statSync(f(dir, "optimizer.bin")).size;
    fs.truncateSync(f(dir, "optimizer.bin"), 12);
    const message = (who: string) => `${who}: ${f(dir, "optimizer.bin")} is damaged: it has 12 bytes but optimizer.json lists ${size}; ${UNUSABLE}`;
    await refuses(() => load(dir), message("load"));
    await refuses(() => loadOptimizer(dir), message("load"));
    const opt = await optimizerWithState({ type: "adam" }, model(0), 3);
    const stateBefore = await opt.getWeights();
    await refuses(() => loadOptimizerState(dir, opt), message("resume"));
    const stateAfter = await opt.getWeights();
    expect(stateAfter.map((t) => values(t.tensor))).toEqual(stateBefore.map((t) => values(t.tensor))); // untouched
    tf.dispose([...stateBefore, ...stateAfter].map((t) => t.tensor));
    opt.dispose();
    fs.writeFileSync(f(dir, "optimizer.json"), "{\"spec\": {\"type\": \"ad");
    await refuses(() => load(dir), new RegExp(`^load: ${escape(f(dir, "optimizer.json"))} is damaged: it is not valid JSON`));
  });

  it("missing files: weights.bin, optimizer.bin, and files the commit record lists", async () => {
    for (const [name, listedBy] of [["weights.bin", "model.json"], ["optimizer.bin", "optimizer.json"], ["optimizer.json", "model.json"], ["state.json", "model.json"]]) {
      const dir = await fresh();
      fs.rmSync(f(dir, name));
      const message = `load: ${f(dir, name)} is missing but ${listedBy} lists it; ${UNUSABLE}`;
      await refuses(() => load(dir), message);
      if (name === "weights.bin") {
        const m = model(0);
        await refuses(() => loadWeightsInto(dir, m), message.replace(/^load/, "resume"));
        m.dispose();
      }
      if (name.startsWith("optimizer")) {
        const opt = new Optimizer("adam");
        await refuses(() => loadOptimizerState(dir, opt), message.replace(/^load/, "resume"));
        opt.dispose();
      }
      if (name === "state.json") expect(() => readState(dir)).toThrow(message.replace(/^load/, "resume"));
    }
  });
});

describe("optimizer state goes only into an optimizer that keeps the same state", () => {
  async function savedWith(spec: OptimizerSpec): Promise<{ dir: string; m: tf.LayersModel }> {
    const dir = path.join(tmpDir(), "ck");
    const m = model(1);
    const opt = await optimizerWithState(spec, m, 4);
    await save(dir, m, opt, { epoch: 1 });
    opt.dispose();
    return { dir, m };
  }

  /** loadOptimizerState refuses, leaking nothing and leaving the target's state as it was. */
  async function refusedInto(dir: string, spec: OptimizerSpec, message: RegExp, m?: tf.LayersModel): Promise<void> {
    const target = await optimizerWithState(spec, m ?? model(0), 9);
    const before = await target.getWeights();
    await refuses(() => loadOptimizerState(dir, target, m), message);
    const after = await target.getWeights();
    expect(after.map((t) => t.name)).toEqual(before.map((t) => t.name));
    expect(after.map((t) => values(t.tensor))).toEqual(before.map((t) => values(t.tensor)));
    tf.dispose([...before, ...after].map((t) => t.tensor));
    target.dispose();
  }

  it("Adam's state is not loaded into SGD with momentum, plain SGD or AdamW, with a message naming both and what to pass", async () => {
    const { dir, m } = await savedWith({ type: "adam", lr: 0.001 });
    const abs = path.resolve(dir);
    await refusedInto(dir, { type: "sgd", lr: 0.1, momentum: 0.9 }, new RegExp(
      `^resume: the checkpoint in ${escape(abs)} holds the state of adam but the optimizer to restore it into is sgd with momentum 0\\.9; ` +
        `they keep different state, so it cannot be loaded\\. Pass optimizer: "adam" to resume with the saved optimizer's type, or omit optimizer to use the saved one\\.$`,
    ));
    await refusedInto(dir, { type: "sgd" }, /holds the state of adam but the optimizer to restore it into is plain sgd \(no momentum\)/);
    await refusedInto(dir, { type: "adamw" }, /holds the state of adam but the optimizer to restore it into is adamw.*optimizer: "adam"/);
    // The same kind with other hyperparameters loads.
    const same = new Optimizer({ type: "adam", lr: 0.01, beta1: 0.8 });
    expect(await loadOptimizerState(dir, same, m)).toBe(true);
    same.dispose();
    m.dispose();
  });

  it("SGD with momentum vs plain SGD are refused both ways; momentum 0.5 takes momentum 0.9's state", async () => {
    const a = await savedWith({ type: "sgd", lr: 0.1, momentum: 0.9 });
    await refusedInto(a.dir, { type: "sgd", lr: 0.1 }, /holds the state of sgd with momentum 0\.9 but the optimizer to restore it into is plain sgd \(no momentum\).*Pass optimizer: \{ type: "sgd", momentum: 0\.9 \}/);
    await refusedInto(a.dir, { type: "adam" }, /holds the state of sgd with momentum 0\.9 but the optimizer to restore it into is adam/);
    const other = new Optimizer({ type: "sgd", lr: 0.1, momentum: 0.5 });
    expect(await loadOptimizerState(a.dir, other, a.m)).toBe(true);
    const w = await other.getWeights();
    expect(w.length).toBe(1 + a.m.trainableWeights.length);
    expect(w.slice(1).every((t) => t.name.endsWith("/momentum") && values(t.tensor).every((v) => v === 4))).toBe(true);
    tf.dispose(w.map((t) => t.tensor));
    other.dispose();
    a.m.dispose();
    const b = await savedWith({ type: "sgd", lr: 0.1 });
    await refusedInto(b.dir, { type: "sgd", lr: 0.1, nesterov: true, momentum: 0.9 }, /holds the state of plain sgd \(no momentum\) but the optimizer to restore it into is sgd with Nesterov momentum 0\.9.*Pass optimizer: "sgd"/);
    b.m.dispose();
  });

  it("state tensors that do not match the saved spec, or the model's trainable weights, are refused", async () => {
    const { dir, m } = await savedWith({ type: "adam" });
    // A spec that says momentum over Adam's tensors: the names give it away.
    rewriteJson(dir, "optimizer.json", (j) => (j.spec = { ...j.spec, type: "sgd", momentum: 0.9 }));
    await refusedInto(dir, { type: "sgd", momentum: 0.9 }, new RegExp(`^resume: ${escape(f(dir, "optimizer.json"))} is damaged: its 9 state tensors \\(iter, .*/m, .*\\) are not those of sgd with momentum 0\\.9, which its spec names; ${escape(UNUSABLE)}$`));
    await refuses(() => load(dir), /optimizer\.json is damaged: its 9 state tensors/); // load builds the model first, then disposes it
    await refuses(() => loadOptimizer(dir), /optimizer\.json is damaged: its 9 state tensors/);
    m.dispose();
    // A model with other trainable weights.
    const again = await savedWith({ type: "adam" });
    const bigger = tf.sequential({ layers: [tf.layers.dense({ units: 5, inputShape: [4] }), tf.layers.dense({ units: 4 }), tf.layers.dense({ units: 3 })] });
    await refusedInto(again.dir, { type: "adam" }, /the optimizer state in .* covers 4 weight tensors but the model has 6 trainable ones; pass the same architecture/, bigger);
    await refuses(() => loadOptimizer(again.dir, bigger), /^load: the optimizer state in .* covers 4 weight tensors but the model has 6 trainable ones/);
    const fits = (await loadOptimizer(again.dir, again.m))!;
    expect(fits.spec.type).toBe("adam");
    fits.dispose();
    bigger.dispose();
    again.m.dispose();
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function f(dir: string, name: string): string {
  return path.join(dir, name);
}

