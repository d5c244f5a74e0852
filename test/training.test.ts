import { describe, it, expect, beforeAll, afterEach } from "vitest";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { ready } from "../src/backend";
import { mlp, neuron, lenet } from "../src/models";
import { train, evaluate, lrFind, save, load, optimizer, callbacks, suggestLr, makeSchedule, sparseCrossEntropy, History } from "../src/training";
import { fromTensors } from "../src/data";
import { requestInterrupt, clearInterrupt } from "../src/runtime/interrupt";
import { setDisplaySink, DISPLAY_SYMBOL } from "../src/display/display";

beforeAll(async () => {
  // lepton's ready() picks the best backend once; then pin the pure-JS one (small models, exact numbers).
  await ready();
  await tf.setBackend("cpu");
});
afterEach(() => {
  clearInterrupt();
  setDisplaySink(undefined);
});

/** Three well separated 2-D Gaussian blobs (seeded). */
function blobs(n: number, seed = 1) {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const centres = [[-2, -2], [2, -2], [0, 2]];
  const x = new Float32Array(n * 2);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    y[i] = c;
    x[2 * i] = centres[c][0] + 0.5 * gauss();
    x[2 * i + 1] = centres[c][1] + 0.5 * gauss();
  }
  return fromTensors(x, y, { inputShape: [2], classes: ["a", "b", "c"], name: "blobs" });
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "lepton-train-"));
}

function weightsOf(model: tf.LayersModel): number[][] {
  return model.getWeights().map((w) => Array.from(w.dataSync()));
}

describe("train", () => {
  it("learns separable blobs, returns a History that displays, and leaks no tensors", async () => {
    const data = blobs(150);
    const model = mlp([2, 16, 3]);
    const before = tf.memory().numTensors;
    const h = await train(model, data, { epochs: 8, batchSize: 16, optimizer: { type: "sgd", lr: 0.1, momentum: 0.9 }, verbose: 0, seed: 3, validationSplit: 0.2 });
    expect(tf.memory().numTensors).toBe(before);
    expect(h.epochs).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(h.metrics.loss[7]).toBeLessThan(h.metrics.loss[0]);
    expect(h.last("accuracy")).toBeGreaterThan(0.9);
    expect(h.last("val_accuracy")).toBeGreaterThan(0.9);
    expect(h.interrupted).toBe(false);
    const bundle = h[DISPLAY_SYMBOL]();
    expect(bundle["text/plain"]).toMatch(/val_loss/);
    expect(JSON.stringify(bundle)).toMatch(/validation/);
    expect(h.plot().data.length).toBe(4);
    model.dispose();
  });

  it("accepts {x, y} tensors and Adam/AdamW, with validationData", async () => {
    const x = tf.randomNormal([40, 2], 0, 1, "float32", 1);
    const y = tf.tensor1d(Array.from({ length: 40 }, (_, i) => (i % 2)), "int32");
    const model = mlp([2, 4, 2]);
    const before = tf.memory().numTensors;
    for (const type of ["adam", "adamw"] as const) {
      const h = await train(model, { x, y }, { epochs: 1, batchSize: 8, optimizer: { type, lr: 0.01 }, verbose: 0, validationData: { x, y } });
      expect(Number.isFinite(h.last("val_loss")!)).toBe(true);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
    model.dispose();
  });

  it("one SGD step equals the hand-computed gradient step (MSE regression, one neuron)", async () => {
    const model = neuron({ inputs: 2 });
    model.setWeights([tf.tensor2d([[0.5], [-1]]), tf.tensor1d([0.25])]);
    const x = tf.tensor2d([[1, 2], [3, -1]]);
    const yt = tf.tensor2d([[1], [0]]);
    // pred = [0.5-2+0.25, 1.5+1+0.25] = [-1.25, 2.75]; err = [-2.25, 2.75]; MSE grad = 2/n·Xᵀ·err
    // dw = [(-2.25*1 + 2.75*3), (-2.25*2 + 2.75*-1)] = [6, -7.25]; db = -2.25+2.75 = 0.5
    await train(model, { x, y: yt }, { epochs: 1, batchSize: 2, optimizer: { type: "sgd", lr: 0.1 }, verbose: 0, shuffle: false });
    const [w, b] = weightsOf(model);
    expect(w[0]).toBeCloseTo(0.5 - 0.1 * 6, 5);
    expect(w[1]).toBeCloseTo(-1 + 0.1 * 7.25, 5);
    expect(b[0]).toBeCloseTo(0.25 - 0.1 * 0.5, 5);
    tf.dispose([x, yt]);
    model.dispose();
  });

  it("clipNorm scales the whole gradient to the given norm; Nesterov's first step is lr·(1+m)·g", async () => {
    // Same fixture as above: g = [6, -7.25] for the kernel, 0.5 for the bias; |g| = sqrt(88.8125).
    const norm = Math.sqrt(36 + 7.25 * 7.25 + 0.25);
    const run = async (options: object) => {
      const model = neuron({ inputs: 2 });
      model.setWeights([tf.tensor2d([[0.5], [-1]]), tf.tensor1d([0.25])]);
      const x = tf.tensor2d([[1, 2], [3, -1]]);
      const yt = tf.tensor2d([[1], [0]]);
      await train(model, { x, y: yt }, { epochs: 1, batchSize: 2, verbose: 0, shuffle: false, ...options });
      const [w, b] = weightsOf(model);
      tf.dispose([x, yt]);
      model.dispose();
      return [w[0], w[1], b[0]];
    };
    const clipped = await run({ optimizer: { type: "sgd", lr: 0.1 }, clipNorm: 1 });
    [0.5 - (0.1 * 6) / norm, -1 + (0.1 * 7.25) / norm, 0.25 - (0.1 * 0.5) / norm].forEach((v, i) => expect(clipped[i]).toBeCloseTo(v, 5));
    const notClipped = await run({ optimizer: { type: "sgd", lr: 0.1 }, clipNorm: 100 });
    [0.5 - 0.6, -1 + 0.725, 0.25 - 0.05].forEach((v, i) => expect(notClipped[i]).toBeCloseTo(v, 5));
    const nesterov = await run({ optimizer: { type: "sgd", lr: 0.1, momentum: 0.9, nesterov: true } });
    [0.5 - 0.19 * 6, -1 + 0.19 * 7.25, 0.25 - 0.19 * 0.5].forEach((v, i) => expect(nesterov[i]).toBeCloseTo(v, 5));
  });

  it("user callbacks run in order; ctx.stop() from onBatchEnd ends training at that batch", async () => {
    const data = blobs(48);
    const model = mlp([2, 4, 3]);
    const events: string[] = [];
    const h = await train(model, data, {
      epochs: 3, batchSize: 16, verbose: 0,
      callbacks: [{
        onTrainBegin: () => void events.push("begin"),
        onEpochBegin: (e) => void events.push(`epoch${e}`),
        onBatchEnd: (b, logs, ctx) => {
          events.push(`b${logs.epoch}.${b}`);
          if (logs.epoch === 2 && b === 2) ctx.stop("enough");
        },
        onEpochEnd: (e, logs) => void events.push(`end${e}:${Number.isFinite(logs.loss)}`),
        onTrainEnd: () => void events.push("finish"),
      }],
    });
    expect(events).toEqual(["begin", "epoch1", "b1.1", "b1.2", "b1.3", "end1:true", "epoch2", "b2.1", "b2.2", "end2:true", "finish"]);
    expect(h.stopReason).toBe("enough");
    expect(h.epochs).toEqual([1, 2]);
    model.dispose();
  });

  it("AdamW decays weights decoupled from the gradient (PyTorch's rule), biases untouched", async () => {
    const model = neuron({ inputs: 1 });
    model.setWeights([tf.tensor2d([[2]]), tf.tensor1d([1])]);
    const x = tf.tensor2d([[0]]); // zero input: the kernel's gradient is exactly 0
    const yt = tf.tensor2d([[1]]); // pred = b = 1: the bias gradient is 0 too
    await train(model, { x, y: yt }, { epochs: 1, batchSize: 1, optimizer: { type: "adamw", lr: 0.1, weightDecay: 0.5 }, verbose: 0 });
    const [w, b] = weightsOf(model);
    expect(w[0]).toBeCloseTo(2 * (1 - 0.1 * 0.5), 6);
    expect(b[0]).toBeCloseTo(1, 6);
    tf.dispose([x, yt]);
    model.dispose();
  });

  it("changes the learning rate every batch as the schedule says (one-cycle)", async () => {
    const data = blobs(64);
    const model = mlp([2, 4, 3]);
    const lrs: number[] = [];
    const h = await train(model, data, {
      epochs: 2, batchSize: 8, optimizer: { type: "sgd", lr: 0.1 }, schedule: "onecycle", verbose: 0,
      callbacks: [{ onBatchEnd: (_b, logs) => void lrs.push(logs.lr) }],
    });
    const sched = makeSchedule("onecycle", 0.1, 8, 2);
    expect(lrs).toHaveLength(16);
    lrs.forEach((lr, i) => expect(lr).toBeCloseTo(sched(i), 12));
    expect(lrs[0]).toBeCloseTo(0.1 / 25, 8);
    expect(Math.max(...lrs)).toBeCloseTo(0.1, 8);
    expect(lrs[15]).toBeLessThan(1e-4);
    expect(new Set(lrs).size).toBe(16);
    expect(h.metrics.lr[1]).toBeCloseTo(lrs[15], 12);
    model.dispose();
  });

  it("a reused or loaded optimizer's schedule starts from the LR asked for, not where the last run's schedule ended", async () => {
    const data = blobs(32);
    const model = mlp([2, 4, 3]);
    const opt = optimizer({ type: "sgd", lr: 0.1, momentum: 0.9 });
    const peaks: number[] = [];
    const run = async (o: typeof opt, m: tf.LayersModel) => {
      const lrs: number[] = [];
      await train(m, data, { epochs: 1, batchSize: 8, optimizer: o, schedule: "onecycle", verbose: 0, callbacks: [{ onBatchEnd: (_b, l) => void lrs.push(l.lr) }] });
      peaks.push(Math.max(...lrs));
      return lrs;
    };
    const first = await run(opt, model);
    expect(opt.lr).toBeCloseTo(first[first.length - 1], 12); // the step LR ended tiny
    expect(opt.baseLr).toBe(0.1);
    await run(opt, model);
    const dir = path.join(tmpDir(), "saved");
    await save(dir, model, opt, { epoch: 2 });
    const loaded = await load(dir);
    expect(loaded.optimizer!.baseLr).toBe(0.1);
    expect(loaded.optimizer!.lr).toBeCloseTo(opt.lr, 12);
    await run(loaded.optimizer!, loaded.model);
    peaks.forEach((p) => expect(p).toBeCloseTo(0.1, 8));
    // An explicit lr overrides for that call only.
    const lrs: number[] = [];
    await train(model, data, { epochs: 1, batchSize: 8, optimizer: opt, lr: 0.02, verbose: 0, callbacks: [{ onBatchEnd: (_b, l) => void lrs.push(l.lr) }] });
    expect(lrs.every((lr) => lr === 0.02)).toBe(true);
    expect(opt.baseLr).toBe(0.1);
    opt.dispose();
    loaded.optimizer!.dispose();
    model.dispose();
    loaded.model.dispose();
  });

  it("a reused optimizer's schedule starts again from its base LR, not from where the last run ended", async () => {
    const data = blobs(32);
    const model = mlp([2, 4, 3]);
    const opt = optimizer({ type: "sgd", lr: 0.1, momentum: 0.9 });
    const firstLrs: number[] = [];
    for (let run = 0; run < 2; run++) {
      let first = true;
      await train(model, data, { epochs: 1, batchSize: 8, optimizer: opt, schedule: "onecycle", verbose: 0,
        callbacks: [{ onBatchEnd: (_b, logs) => { if (first) firstLrs.push(logs.lr); first = false; } }] });
    }
    expect(firstLrs[0]).toBeCloseTo(0.1 / 25, 10);
    expect(firstLrs[1]).toBeCloseTo(0.1 / 25, 10);
    expect(opt.baseLr).toBe(0.1);
    opt.dispose();
    model.dispose();
  });

  it("schedules: step, cosine, constant", () => {
    const step = makeSchedule({ type: "step", everyEpochs: 2, gamma: 0.5 }, 1, 10, 6);
    expect([step(0), step(19), step(20), step(45)]).toEqual([1, 1, 0.5, 0.25]);
    const cos = makeSchedule({ type: "cosine", minLr: 0 }, 1, 10, 1);
    expect(cos(0)).toBeCloseTo(1);
    expect(cos(9)).toBeCloseTo(0);
    expect(makeSchedule("constant", 0.3, 10, 1)(7)).toBe(0.3);
    expect(() => makeSchedule({ type: "nope" } as any, 1, 1, 1)).toThrow(/unknown type/);
  });

  it("label smoothing matches the hand-computed cross-entropy", () => {
    const logits = tf.tensor2d([[2, 0, 0]]);
    const y = tf.tensor1d([0], "int32");
    const lse = Math.log(Math.exp(2) + 2);
    const logp = [2 - lse, -lse, -lse];
    const eps = 0.3;
    const target = [1 - eps + eps / 3, eps / 3, eps / 3];
    const expected = -target.reduce((a, t, i) => a + t * logp[i], 0);
    const l = sparseCrossEntropy(logits, y, eps);
    expect(l.dataSync()[0]).toBeCloseTo(expected, 5);
    expect(sparseCrossEntropy(logits, y).dataSync()[0]).toBeCloseTo(-logp[0], 5);
    tf.dispose([logits, y, l]);
  });

  it("refuses a label count that does not match the model's outputs, and images of the wrong shape", async () => {
    const data = blobs(30);
    const two = mlp([2, 4, 2]);
    await expect(train(two, data, { verbose: 0 })).rejects.toThrow(/3 classes .* but the model outputs 2 values/);
    const images = fromTensors(new Uint8Array(4 * 28 * 28), new Int32Array(4), { inputShape: [28, 28, 1], classes: ["0"] });
    const net = lenet();
    await expect(train(net, images, { verbose: 0 })).rejects.toThrow(/expects inputs of shape \[32, 32, 3\] but .* \[28, 28, 1\]/);
    await expect(train(two, data, { epochs: 0, verbose: 0 })).rejects.toThrow(/epochs must be a whole number/);
    await expect(train(two, { x: 1 } as any, { verbose: 0 })).rejects.toThrow(/must be a lepton Dataset/);
    two.dispose();
    net.dispose();
  });

  it("NaN inputs are refused before the first step, naming the dataset and the sample", async () => {
    const x = new Float32Array(40).fill(0.5);
    x[2 * 10] = NaN; // sample 10
    const y = Int32Array.from({ length: 20 }, (_, i) => i % 2);
    const data = fromTensors(x, y, { inputShape: [2], classes: ["a", "b"], name: "pixels" });
    expect(data.check().ok).toBe(false);
    expect(data.check().nonFinite).toEqual([{ index: 10, part: "input" }]);
    const model = mlp([2, 3, 2], { seed: 3 });
    const w0 = model.getWeights().map((w) => Array.from(w.dataSync()));
    await expect(train(model, data, { epochs: 3, batchSize: 4, verbose: 0 })).rejects.toThrow(/data pixels: 1 of 20 samples have NaN or infinite values, e.g. sample 10 \(input\)/);
    expect(model.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(w0);
    await expect(evaluate(model, data, { batchSize: 8 })).rejects.toThrow(/sample 10 of pixels has NaN or infinite inputs/);
    model.dispose();
  });

  it("a non-finite batch from a streaming dataset stops training at that batch, keeps the weights from before it, and says it is a data problem", async () => {
    const x = new Float32Array(40).map((_, i) => (i % 7) / 7);
    const y = Int32Array.from({ length: 20 }, (_, i) => i % 2);
    const raw = fromTensors(x, y, { inputShape: [2], classes: ["a", "b"] });
    // A dataset without check(): batch 2 carries a NaN (as a broken decoder or transform would).
    const stream = {
      name: "stream", size: 20, classes: raw.classes, inputShape: raw.inputShape, targetShape: raw.targetShape,
      async *batches(o: { batchSize: number }) {
        let i = 0;
        for await (const b of raw.batches({ batchSize: o.batchSize, shuffle: false })) {
          if (++i === 2) {
            const bad = tf.tidy(() => b.x.add(tf.oneHot([0], b.x.size).reshape(b.x.shape).mul(NaN)));
            b.x.dispose();
            yield { x: bad, y: b.y };
          } else yield b;
        }
      },
      split: () => { throw new Error("no"); }, take: () => { throw new Error("no"); },
    };
    const model = mlp([2, 3, 2], { seed: 3 });
    const twin = mlp([2, 3, 2], { seed: 3 });
    const before = tf.memory().numTensors;
    const h = await train(model, stream as any, { epochs: 3, batchSize: 4, verbose: 0, optimizer: "sgd", lr: 0.5 });
    expect(tf.memory().numTensors).toBe(before);
    expect(h.stopReason).toMatch(/NaN or infinite inputs in the data at epoch 1, batch 2 of 5/);
    expect(h.stopReason).toMatch(/weights are those from before that batch/);
    expect(h.stopReason).toMatch(/data problem/);
    expect(h.stopReason).not.toMatch(/lower learning rate/);
    expect(h.epochs).toEqual([]);
    await train(twin, fromTensors(x.slice(0, 8), y.slice(0, 4), { inputShape: [2], classes: ["a", "b"] }), { epochs: 1, batchSize: 4, shuffle: false, verbose: 0, optimizer: "sgd", lr: 0.5 });
    expect(model.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(twin.getWeights().map((w) => Array.from(w.dataSync())));
    model.dispose();
    twin.dispose();
  });

  it("a diverging loss with finite inputs suggests a lower learning rate, normalising and clipping", async () => {
    const data = fromTensors(new Float32Array(40).map((_, i) => (i % 7) * 100), new Float32Array(20).map((_, i) => i * 50));
    const model = mlp([2, 16, 1], { seed: 1 });
    const h = await train(model, data, { epochs: 50, batchSize: 4, verbose: 0, optimizer: "sgd", lr: 1, seed: 0 });
    expect(h.stopReason).toMatch(/Loss became (NaN|infinite)/);
    expect(h.stopReason).toMatch(/inputs of that batch were finite/);
    expect(h.stopReason).toMatch(/lower learning rate/);
    expect(h.stopReason).toMatch(/normalise the inputs/);
    expect(h.stopReason).toMatch(/clip/);
    expect(model.getWeights().every((w) => Array.from(w.dataSync()).every(Number.isFinite))).toBe(true);
    // The message reaches the user even with verbose 0 (a warning is always printed outside a notebook).
    const out: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string) => (out.push(String(chunk)), true)) as any;
    try {
      await train(mlp([2, 16, 1], { seed: 1 }), data, { epochs: 50, batchSize: 4, verbose: 0, optimizer: "sgd", lr: 1, seed: 0 });
    } finally {
      process.stdout.write = write;
    }
    expect(out.join("")).toMatch(/Loss became (NaN|infinite) at epoch \d+, batch \d+/);
    model.dispose();
  });

  it("an interrupt stops at a batch boundary, keeps the weights and returns the history so far", async () => {
    const data = blobs(96);
    const model = mlp([2, 4, 3]);
    const initial = weightsOf(model);
    let batches = 0;
    const before = tf.memory().numTensors;
    const h = await train(model, data, {
      epochs: 5, batchSize: 8, verbose: 0, optimizer: { type: "sgd", lr: 0.05 },
      callbacks: [{ onBatchEnd: (b, logs) => { batches++; if (logs.epoch === 2 && b === 3) requestInterrupt(); } }],
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(h.interrupted).toBe(true);
    expect(h.epochs).toEqual([1]);
    expect(h.stopReason).toMatch(/interrupted at epoch 2, batch 3/);
    expect(batches).toBe(12 + 3);
    expect(weightsOf(model)).not.toEqual(initial);
    model.dispose();
  });

  it("an aborted signal stops training exactly as an interrupt does, naming what stopped it", async () => {
    const data = blobs(96);
    const model = mlp([2, 4, 3]);
    const stop = new AbortController();
    let batches = 0;
    const before = tf.memory().numTensors;
    const h = await train(model, data, {
      epochs: 5, batchSize: 8, verbose: 0, optimizer: { type: "sgd", lr: 0.05 }, signal: stop.signal,
      callbacks: [{ onBatchEnd: (b, logs) => { batches++; if (logs.epoch === 2 && b === 3) stop.abort(); } }],
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(h.interrupted).toBe(true);
    expect(h.epochs).toEqual([1]);
    expect(h.stopReason).toBe("stopped with the abort signal at epoch 2, batch 3 of 12");
    expect(batches).toBe(12 + 3);
    // An abort between epochs stops after that epoch.
    const late = new AbortController();
    const h2 = await train(model, data, { epochs: 5, batchSize: 8, verbose: 0, signal: late.signal, callbacks: [{ onEpochEnd: (e) => { if (e === 1) late.abort(); } }] });
    expect(h2.stopReason).toBe("stopped with the abort signal after epoch 1");
    expect(h2.epochs).toEqual([1]);
    await expect(train(model, data, { epochs: 1, verbose: 0, signal: {} as AbortSignal })).rejects.toThrow(/signal must be an AbortSignal/);
    model.dispose();
  });

  it("earlyStopping stops after `patience` epochs without improvement and restores the best weights", async () => {
    const data = blobs(48);
    const model = mlp([2, 4, 3]);
    let atEpoch1: number[][] = [];
    const h = await train(model, data, {
      epochs: 10, batchSize: 8, verbose: 0,
      callbacks: [
        { onEpochEnd: (e) => { if (e === 1) atEpoch1 = weightsOf(model); } },
        // minDelta so large that nothing after the first epoch counts as better.
        callbacks.earlyStopping({ monitor: "loss", patience: 2, minDelta: 1e9, restoreBest: true }),
      ],
    });
    expect(h.epochs).toEqual([1, 2, 3]);
    expect(h.stopReason).toMatch(/early stopping: loss has not improved for 2 epochs/);
    expect(weightsOf(model)).toEqual(atEpoch1);
    model.dispose();
  });

  it("earlyStopping names a missing metric clearly", async () => {
    const model = mlp([2, 4, 3]);
    await expect(train(model, blobs(12), { epochs: 2, verbose: 0, callbacks: [callbacks.earlyStopping({ monitor: "val_accuracy" })] }))
      .rejects.toThrow(/metric "val_accuracy" is not in the epoch logs/);
    model.dispose();
  });

  it("reduceOnPlateau lowers the LR by its factor", async () => {
    const model = mlp([2, 4, 3]);
    const h = await train(model, blobs(24), {
      epochs: 4, batchSize: 8, verbose: 0, optimizer: { type: "sgd", lr: 0.1 },
      callbacks: [callbacks.reduceOnPlateau({ monitor: "loss", patience: 1, factor: 0.5, minDelta: 1e9 })],
    });
    const lr = h.metrics.lr;
    expect(lr[0]).toBeCloseTo(0.1);
    expect(lr[1]).toBeCloseTo(0.1); // reduced at the end of epoch 2
    expect(lr[2]).toBeCloseTo(0.05);
    expect(lr[3]).toBeCloseTo(0.025);
    model.dispose();
  });

  it("resuming from a checkpoint gives exactly the weights of an uninterrupted run (optimizer state restored)", async () => {
    const data = blobs(48);
    const base = mlp([2, 5, 3]);
    const init = base.getWeights().map((w) => w.clone());
    const opts = { batchSize: 8, verbose: 0 as const, seed: 11, optimizer: { type: "sgd" as const, lr: 0.05, momentum: 0.9 } };
    const straight = await train(base, data, { ...opts, epochs: 3 });
    const target = weightsOf(base);

    const dir = path.join(tmpDir(), "ckpt");
    const a = mlp([2, 5, 3]);
    a.setWeights(init);
    await train(a, data, { ...opts, epochs: 2, callbacks: [callbacks.checkpoint({ dir })] });
    expect(fs.readdirSync(dir).sort()).toEqual(["model.json", "optimizer.bin", "optimizer.json", "state.json", "weights.bin"]);
    expect(fs.readdirSync(path.dirname(dir))).toEqual(["ckpt"]); // no temporary folders left

    const b = mlp([2, 5, 3]); // fresh weights: all must come from the checkpoint
    const before = tf.memory().numTensors;
    const resumed = await train(b, data, { ...opts, epochs: 3, resumeFrom: dir });
    expect(tf.memory().numTensors).toBe(before);
    expect(resumed.epochs).toEqual([1, 2, 3]);
    const got = weightsOf(b);
    got.forEach((w, i) => w.forEach((v, j) => expect(v).toBeCloseTo(target[i][j], 5)));
    expect(resumed.metrics.loss[2]).toBeCloseTo(straight.metrics.loss[2], 5);
    tf.dispose(init);
    [base, a, b].forEach((m) => m.dispose());
  });

  it("checkpoint keepBest saves only improvements; resumeFrom an empty folder is a clear error", async () => {
    const dir = path.join(tmpDir(), "best");
    const saved: number[] = [];
    const model = mlp([2, 4, 3]);
    await train(model, blobs(24), {
      epochs: 3, verbose: 0, batchSize: 8,
      callbacks: [callbacks.checkpoint({ dir, keepBest: true, monitor: "loss", mode: "max" }), { onEpochEnd: () => void saved.push(JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8")).epoch) }],
    });
    const losses: number[] = [];
    // With mode max, the saved epoch is the one with the highest loss so far.
    const state = JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8"));
    losses.push(...state.history.loss);
    const argmax = losses.indexOf(Math.max(...losses)) + 1;
    expect(state.epoch).toBe(argmax);
    expect(saved[0]).toBe(1);
    await expect(train(model, blobs(24), { verbose: 0, resumeFrom: tmpDir() })).rejects.toThrow(/has no checkpoint/);
    model.dispose();
  });

  it("save/load round-trips the model, the optimizer state and the epoch", async () => {
    const data = blobs(32);
    const model = mlp([2, 4, 3]);
    const opt = optimizer({ type: "adam", lr: 0.01 });
    await train(model, data, { epochs: 2, batchSize: 8, optimizer: opt, verbose: 0 });
    const dir = path.join(tmpDir(), "saved");
    await save(dir, model, opt, { epoch: 2 });
    await save(dir, model, opt, { epoch: 2 }); // overwrite in place
    const loaded = await load(dir);
    expect(loaded.epoch).toBe(2);
    expect(weightsOf(loaded.model)).toEqual(weightsOf(model));
    const a = await opt.getWeights();
    const b = await loaded.optimizer!.getWeights();
    expect(b.map((t) => Array.from(t.tensor.dataSync()))).toEqual(a.map((t) => Array.from(t.tensor.dataSync())));
    expect(loaded.optimizer!.spec.type).toBe("adam");
    tf.dispose([...a, ...b].map((t) => t.tensor));
    // One more step from both gives the same weights.
    await train(model, data, { epochs: 1, batchSize: 8, optimizer: opt, verbose: 0, shuffle: false });
    await train(loaded.model, data, { epochs: 1, batchSize: 8, optimizer: loaded.optimizer!, verbose: 0, shuffle: false });
    expect(weightsOf(loaded.model)).toEqual(weightsOf(model));
    await expect(load(tmpDir())).rejects.toThrow(/no model.json/);
    opt.dispose();
    loaded.optimizer!.dispose();
    model.dispose();
    loaded.model.dispose();
  });

  it("a save that fails midway leaves the previous checkpoint intact and no temporary folder", async () => {
    const model = mlp([2, 3, 3]);
    const parent = tmpDir();
    const dir = path.join(parent, "ck");
    await save(dir, model, undefined, { epoch: 1 });
    const before = fs.readFileSync(path.join(dir, "weights.bin"));
    const broken = optimizer("sgd");
    (broken as any).getWeights = async () => { throw new Error("disk full (simulated)"); };
    model.setWeights(model.getWeights().map((w) => tf.tidy(() => w.add(1))));
    await expect(save(dir, model, broken, { epoch: 2 })).rejects.toThrow(/disk full/);
    expect(fs.readdirSync(parent)).toEqual(["ck"]);
    expect(fs.readFileSync(path.join(dir, "weights.bin")).equals(before)).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8")).epoch).toBe(1);
    broken.dispose();
    model.dispose();
  });

  it("in a notebook: a progress output and a live chart, updated in place at a bounded rate", async () => {
    const shown: string[] = [];
    const updates: { id: string; t: number }[] = [];
    setDisplaySink({
      display: (b, _m, id) => void shown.push(String(id)),
      update: (_b, _m, id) => void updates.push({ id, t: Date.now() }),
    });
    const model = mlp([2, 8, 3]);
    const t0 = Date.now();
    await train(model, blobs(600), { epochs: 3, batchSize: 4, verbose: 1 });
    const seconds = (Date.now() - t0) / 1000;
    setDisplaySink(undefined);
    expect(shown.length).toBeGreaterThanOrEqual(2); // progress + live chart (+ plotly library)
    const progressId = shown[0];
    const progressUpdates = updates.filter((u) => u.id === progressId).length;
    // At most 4 timed updates a second, plus one per epoch end and one at the end.
    expect(progressUpdates).toBeLessThanOrEqual(Math.ceil(seconds * 4) + 3 + 2);
    expect(progressUpdates).toBeGreaterThanOrEqual(3);
    model.dispose();
  });
});

describe("lrFind", () => {
  it("sweeps the LR exponentially, suggests one, and restores weights and optimizer state exactly", async () => {
    const data = blobs(120);
    const model = mlp([2, 8, 3]);
    const opt = optimizer({ type: "sgd", lr: 0.01, momentum: 0.9 });
    await train(model, data, { epochs: 1, batchSize: 16, optimizer: opt, verbose: 0 });
    const w0 = weightsOf(model);
    const s0 = await opt.getWeights();
    const s0v = s0.map((t) => Array.from(t.tensor.dataSync()));
    tf.dispose(s0.map((t) => t.tensor));
    const before = tf.memory().numTensors;
    const r = await lrFind(model, data, { numIter: 40, batchSize: 16, startLr: 1e-5, endLr: 10, optimizer: opt, seed: 1 });
    expect(tf.memory().numTensors).toBe(before);
    expect(weightsOf(model)).toEqual(w0);
    const s1 = await opt.getWeights();
    expect(s1.map((t) => Array.from(t.tensor.dataSync()))).toEqual(s0v);
    tf.dispose(s1.map((t) => t.tensor));
    expect(opt.lr).toBe(0.01);
    expect(r.lrs[0]).toBeCloseTo(1e-5, 12);
    for (let i = 1; i < r.lrs.length; i++) expect(r.lrs[i] / r.lrs[i - 1]).toBeCloseTo(Math.pow(1e6, 1 / 39), 8);
    expect(r.suggested).toBeGreaterThan(1e-5);
    expect(r.suggested).toBeLessThan(10);
    expect(r.toString()).toMatch(/Suggested LR/);
    expect(r.plot().data[0].x).toHaveLength(r.lrs.length);
    opt.dispose();
    model.dispose();
  });

  it("suggestLr: the valley is two thirds down the longest descent; steepest is the largest drop per log-LR", () => {
    const lrs = [1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100];
    const losses = [2.0, 1.9, 1.5, 0.7, 0.6, 1.0, 3.0];
    const s = suggestLr(lrs, losses);
    // Longest descent: indices 0..4 (5 points); 4/3 sections → 0 + 1 + 0 = index 1.
    expect(s.valley).toBe(1e-3);
    // Central differences: i=2: (0.7-1.9)/ln100 is the most negative.
    expect(s.steepest).toBe(1e-2);
    expect(s.minimumDiv10).toBeCloseTo(0.1);
  });
});

describe("History", () => {
  it("records epochs and fills metrics that appear later with NaN", () => {
    const h = new History();
    h.record(1, { loss: 1 });
    h.record(2, { loss: 0.5, val_loss: 0.7 });
    expect(h.metrics.val_loss[0]).toBeNaN();
    expect(h.metrics.val_loss[1]).toBe(0.7);
    expect(h.toString()).toMatch(/epoch\s+loss\s+val_loss/);
  });
});
