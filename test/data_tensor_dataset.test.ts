import { describe, it, expect } from "vitest";
import * as tf from "@tensorflow/tfjs";
import * as path from "path";
import { fromTensors, InMemoryDataset } from "../src/data";
import { transformPath } from "../src/data/transforms";
import { DISPLAY_SYMBOL } from "../src/display/display";

/** n images 4x4x3 with pixel value = (sample*7 + position) % 256, labels i % classes. */
function smallImages(n: number, classes = 3) {
  const x = new Uint8Array(n * 4 * 4 * 3);
  for (let i = 0; i < x.length; i++) x[i] = (Math.floor(i / 48) * 7 + (i % 48)) % 256;
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) y[i] = i % classes;
  return fromTensors(x, y, { inputShape: [4, 4, 3], classes: ["a", "b", "c"].slice(0, classes) });
}

async function collect(ds: InMemoryDataset, opts: Parameters<InMemoryDataset["batches"]>[0]) {
  const xs: number[][] = [];
  const ys: number[][] = [];
  const shapes: number[][] = [];
  for await (const b of ds.batches(opts)) {
    xs.push(Array.from(b.x.dataSync()));
    ys.push(Array.from(b.y.dataSync()));
    shapes.push(b.x.shape);
    tf.dispose([b.x, b.y]);
  }
  return { xs, ys, shapes };
}

describe("fromTensors / InMemoryDataset", () => {
  it("makes float32 NHWC batches in [0,1] from uint8 and int32 labels", async () => {
    const ds = smallImages(10);
    expect(ds.size).toBe(10);
    expect(ds.inputShape).toEqual([4, 4, 3]);
    expect(ds.targetShape).toEqual([]);
    const before = tf.memory().numTensors;
    const { xs, ys, shapes } = await collect(ds, { batchSize: 4 });
    expect(shapes).toEqual([[4, 4, 4, 3], [4, 4, 4, 3], [2, 4, 4, 3]]);
    expect(ys.flat()).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2, 0]);
    // sample 1, position 5 -> (7 + 5) / 255
    expect(xs[0][48 + 5]).toBeCloseTo(12 / 255, 6);
    expect(tf.memory().numTensors).toBe(before);
    const dropped = await collect(ds, { batchSize: 4, dropLast: true });
    expect(dropped.shapes.length).toBe(2);
  });

  it("accepts tensors and regression targets", async () => {
    const x = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
    const y = tf.tensor1d([0.5, 1.5, 2.5]);
    const ds = fromTensors(x, y);
    tf.dispose([x, y]);
    expect(ds.classes).toBeUndefined();
    expect(ds.inputShape).toEqual([2]);
    expect(ds.targetShape).toEqual([1]);
    const { xs, ys, shapes } = await collect(ds, { batchSize: 3 });
    expect(shapes[0]).toEqual([3, 2]);
    expect(xs[0]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(ys[0]).toEqual([0.5, 1.5, 2.5]);
    expect(() => ds.labels()).toThrow(/regression/);
  });

  it("rejects mismatched sizes and bad labels with a clear message", () => {
    expect(() => fromTensors(new Float32Array(6), new Int32Array(4), { inputShape: [2] })).toThrow(/3 samples but y has 4/);
    expect(() => fromTensors(new Float32Array(4), new Int32Array([0, 5]), { classes: ["a", "b"] })).toThrow(/out of range/);
    expect(() => fromTensors(new Float32Array(4), new Int32Array([0, -1]))).toThrow(/not a class index/);
    expect(() => fromTensors(new Float32Array(4), [0, 1.5], { classes: ["a", "b"] })).toThrow(/label 1\.5 at sample 1 is not a class index/);
  });

  it("shuffles deterministically for a seed, differently for another, covering every sample", async () => {
    const ds = smallImages(30);
    const a = await collect(ds, { batchSize: 8, shuffle: true, seed: 7 });
    const b = await collect(ds, { batchSize: 8, shuffle: true, seed: 7 });
    const c = await collect(ds, { batchSize: 8, shuffle: true, seed: 8 });
    expect(a.xs).toEqual(b.xs);
    expect(a.xs).not.toEqual(c.xs);
    const firstPixels = a.xs.flatMap((batch) => batch.filter((_, i) => i % 48 === 0)).map((v) => Math.round(v * 255));
    expect([...firstPixels].sort((p, q) => p - q)).toEqual(Array.from({ length: 30 }, (_, i) => (i * 7) % 256).sort((p, q) => p - q));
    const counts = [0, 0, 0];
    for (const l of a.ys.flat()) counts[l]++;
    expect(counts).toEqual([10, 10, 10]);
  });

  it("splits disjointly, stratified keeps class shares, take keeps the first n", () => {
    const ds = smallImages(60);
    const [tr, va] = ds.split(0.8, { seed: 1, stratify: true });
    expect(tr.size + va.size).toBe(60);
    expect(tr.classCounts()).toEqual([16, 16, 16]);
    expect(va.classCounts()).toEqual([4, 4, 4]);
    const [p, q] = ds.split(0.5, { seed: 3 });
    expect(p.size).toBe(30);
    const [p2] = ds.split(0.5, { seed: 3 });
    expect(Array.from(p2.labels())).toEqual(Array.from(p.labels()));
    expect(tr.take(5).size).toBe(5);
    expect(Array.from(tr.take(5).labels())).toEqual(Array.from(tr.labels().slice(0, 5)));
    expect(ds.take(1000).size).toBe(60);
    expect(() => ds.split(1)).toThrow(/between 0 and 1/);
  });

  it("normalize() statistics match an independent computation and batches are standardised", async () => {
    const ds = smallImages(20);
    // Independent: per-channel over all pixels, in float64.
    expect(ds.toString()).not.toBe("");
    const raw = (await collect(ds, { batchSize: 20 })).xs[0];
    const mean = [0, 0, 0];
    for (let i = 0; i < raw.length; i++) mean[i % 3] += raw[i] / (raw.length / 3);
    const variance = [0, 0, 0];
    for (let i = 0; i < raw.length; i++) variance[i % 3] += (raw[i] - mean[i % 3]) ** 2 / (raw.length / 3);
    const norm = ds.normalize();
    for (let c = 0; c < 3; c++) {
      expect(norm.mean[c]).toBeCloseTo(mean[c], 5);
      expect(norm.std[c]).toBeCloseTo(Math.sqrt(variance[c]), 5);
    }
    const out = (await collect(norm, { batchSize: 20 })).xs[0];
    for (let c = 0; c < 3; c++) {
      const vals = out.filter((_, i) => i % 3 === c);
      const m = vals.reduce((s, v) => s + v, 0) / vals.length;
      const v = vals.reduce((s, x) => s + (x - m) ** 2, 0) / vals.length;
      expect(m).toBeCloseTo(0, 4);
      expect(v).toBeCloseTo(1, 3);
    }
    const given = ds.normalize([0.5, 0.5, 0.5], [0.25, 0.25, 0.25]);
    const g = (await collect(given, { batchSize: 20 })).xs[0];
    expect(g[5]).toBeCloseTo((raw[5] - 0.5) / 0.25, 5);
  });

  it("flip is an exact mirror, crop keeps shapes and picks a window of the padded image", async () => {
    const ds = smallImages(16);
    const plain = (await collect(ds, { batchSize: 16 })).xs[0];
    const flipped = (await collect(ds.augment({ flip: { probability: 1 } }), { batchSize: 16, seed: 1 })).xs[0];
    for (let s = 0; s < 16; s++)
      for (let r = 0; r < 4; r++)
        for (let col = 0; col < 4; col++)
          for (let ch = 0; ch < 3; ch++)
            expect(flipped[s * 48 + r * 12 + col * 3 + ch]).toBe(plain[s * 48 + r * 12 + (3 - col) * 3 + ch]);
    const none = (await collect(ds.augment({ flip: { probability: 0 } }), { batchSize: 16, seed: 1 })).xs[0];
    expect(none).toEqual(plain);

    const before = tf.memory().numTensors;
    const crop = await collect(ds.augment({ crop: { padding: 2 } }), { batchSize: 16, seed: 3 });
    expect(tf.memory().numTensors).toBe(before);
    expect(crop.shapes[0]).toEqual([16, 4, 4, 3]);
    let shifted = 0;
    for (let s = 0; s < 16; s++) {
      // Find the offset (dy, dx) in [-2, 2] whose shifted, zero-padded image equals the crop.
      let found = false;
      for (let dy = -2; dy <= 2 && !found; dy++)
        for (let dx = -2; dx <= 2 && !found; dx++) {
          let ok = true;
          for (let r = 0; r < 4 && ok; r++)
            for (let col = 0; col < 4 && ok; col++)
              for (let ch = 0; ch < 3 && ok; ch++) {
                const sr = r + dy;
                const sc = col + dx;
                const expected = sr < 0 || sr > 3 || sc < 0 || sc > 3 ? 0 : plain[s * 48 + sr * 12 + sc * 3 + ch];
                if (crop.xs[0][s * 48 + r * 12 + col * 3 + ch] !== expected) ok = false;
              }
          if (ok) {
            found = true;
            if (dy !== 0 || dx !== 0) shifted++;
          }
        }
      expect(found).toBe(true);
    }
    expect(shifted).toBeGreaterThan(0);
    const again = await collect(ds.augment({ crop: { padding: 2 } }), { batchSize: 16, seed: 3 });
    expect(again.xs).toEqual(crop.xs);
  });

  it("augmentations give the same result on tensors (after a map) as on the batch values", async () => {
    const ds = smallImages(12);
    const opts = { crop: { padding: 1 }, flip: true, cutout: { size: 2 } } as const;
    const direct = await collect(ds.augment(opts).normalize([0.5, 0.4, 0.3], [0.2, 0.3, 0.4]), { batchSize: 5, seed: 9, shuffle: true });
    const viaTensors = await collect(ds.map((b) => ({ x: tf.clone(b.x), y: b.y })).augment(opts).normalize([0.5, 0.4, 0.3], [0.2, 0.3, 0.4]), { batchSize: 5, seed: 9, shuffle: true });
    expect(viaTensors.shapes).toEqual(direct.shapes);
    viaTensors.xs.flat().forEach((v, i) => expect(v).toBeCloseTo(direct.xs.flat()[i], 5));
  });

  it("the tf-op transforms (tensor path) give exactly the array path's batches, per transform and chained, leaking nothing", async () => {
    // Non-square 5x7 images with 3 channels and varied pixels, so that rows, columns and channels
    // cannot be confused.
    const n = 21;
    const x = new Uint8Array(n * 5 * 7 * 3);
    for (let i = 0; i < x.length; i++) x[i] = (i * 37 + ((i * i) % 101)) % 256;
    const ds = fromTensors(x, Int32Array.from({ length: n }, (_, i) => i % 3), { inputShape: [5, 7, 3], classes: ["a", "b", "c"] });
    const pipelines: [string, InMemoryDataset][] = [
      ["flip", ds.augment({ flip: true })],
      ["crop", ds.augment({ crop: { padding: 3 } })],
      ["cutout", ds.augment({ cutout: { size: 3 } })],
      ["normalize", ds.normalize([0.45, 0.5, 0.55], [0.2, 0.25, 0.3])],
      ["chain", ds.augment({ crop: { padding: 2 }, flip: true, cutout: { size: 4 } }).normalize()],
    ];
    for (const [what, p] of pipelines) {
      const before = tf.memory().numTensors;
      const opts = { batchSize: 8, shuffle: true, seed: 11 };
      const array = await collect(p, { ...opts, transforms: "array" } as Parameters<InMemoryDataset["batches"]>[0]);
      const tensor = await collect(p, { ...opts, transforms: "tensor" } as Parameters<InMemoryDataset["batches"]>[0]);
      expect(tf.memory().numTensors, what).toBe(before);
      expect(tensor.shapes, what).toEqual(array.shapes);
      expect(tensor.ys, what).toEqual(array.ys);
      expect(tensor.xs, what).toEqual(array.xs); // exact, not close
      // The transform did something (else the comparison would be empty).
      expect(array.xs, what).not.toEqual((await collect(ds, opts)).xs);
    }
    // The tensor path really runs tf kernels on the batch, not the JS loops.
    const profile = await tf.profile(async () => {
      const chain = pipelines[4][1];
      for await (const b of chain.batches({ batchSize: 8, seed: 1, transforms: "tensor" } as Parameters<InMemoryDataset["batches"]>[0])) tf.dispose([b.x, b.y]);
    });
    for (const k of ["Reverse", "PadV2", "GatherV2", "Select", "Sub", "Multiply"]) expect(profile.kernelNames).toContain(k);
  });

  it("on the WebAssembly backend too, the tensor path gives exactly the array path's batches", async () => {
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    wasm.setWasmPaths(path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm")) + path.sep);
    const n = 40;
    const x = new Uint8Array(n * 32 * 32 * 3);
    for (let i = 0; i < x.length; i++) x[i] = (i * 53 + ((i * i) % 97)) % 256;
    const ds = fromTensors(x, Int32Array.from({ length: n }, (_, i) => i % 10), { inputShape: [32, 32, 3] })
      .augment({ crop: { padding: 4 }, flip: true, cutout: { size: 8 } }).normalize([0.49, 0.48, 0.45], [0.25, 0.24, 0.26]);
    expect(await tf.setBackend("wasm")).toBe(true);
    try {
      const before = tf.memory().numTensors;
      const opts = { batchSize: 16, shuffle: true, seed: 5 };
      const array = await collect(ds, { ...opts, transforms: "array" } as Parameters<InMemoryDataset["batches"]>[0]);
      const tensor = await collect(ds, { ...opts, transforms: "tensor" } as Parameters<InMemoryDataset["batches"]>[0]);
      expect(tf.memory().numTensors).toBe(before);
      expect(tensor.ys).toEqual(array.ys);
      // Count differing values (a toEqual diff of 150,000 numbers would take minutes to print).
      const a = array.xs.flat();
      const t = tensor.xs.flat();
      expect(t.length).toBe(a.length);
      const differing = a.filter((v, i) => !Object.is(v, t[i])).length;
      expect(differing).toBe(0);
    } finally {
      await tf.setBackend("cpu");
    }
  });

  it("chooses the path by backend unless forced by option or LEPTON_TRANSFORMS", () => {
    const saved = process.env.LEPTON_TRANSFORMS;
    try {
      delete process.env.LEPTON_TRANSFORMS;
      expect(tf.getBackend()).toBe("cpu");
      expect(transformPath()).toBe("array");
      expect(transformPath("tensor")).toBe("tensor");
      process.env.LEPTON_TRANSFORMS = "tensor";
      expect(transformPath()).toBe("tensor");
      expect(transformPath("auto")).toBe("tensor");
      expect(transformPath("array")).toBe("array");
      expect(() => transformPath("gpu" as "tensor")).toThrow(/batches\(\{ transforms \}\) must be "tensor", "array" or "auto"; got "gpu"/);
      process.env.LEPTON_TRANSFORMS = "gpu";
      expect(() => transformPath()).toThrow(/LEPTON_TRANSFORMS must be "tensor", "array" or "auto"; got "gpu"/);
    } finally {
      if (saved === undefined) delete process.env.LEPTON_TRANSFORMS;
      else process.env.LEPTON_TRANSFORMS = saved;
    }
  });

  it("cutout zeroes one clipped square per image", async () => {
    const ones = fromTensors(new Float32Array(8 * 6 * 6).fill(1), new Int32Array(8), { inputShape: [6, 6, 1] });
    const out = (await collect(ones.augment({ cutout: { size: 2 } }), { batchSize: 8, seed: 5 })).xs[0];
    for (let s = 0; s < 8; s++) {
      const zeros = out.slice(s * 36, s * 36 + 36).filter((v) => v === 0).length;
      expect([1, 2, 4]).toContain(zeros);
    }
  });

  it("map() applies a batched tensor op; toTensors and toTfData interoperate; show draws a grid", async () => {
    const ds = smallImages(6).map(({ x, y }) => ({ x: tf.mul(x, 2), y }), "double");
    const { x, y } = await ds.toTensors();
    expect(x.shape).toEqual([6, 4, 4, 3]);
    expect(x.dataSync()[1]).toBeCloseTo((2 * 1) / 255, 6);
    expect(Array.from(y.dataSync())).toEqual([0, 1, 2, 0, 1, 2]);
    tf.dispose([x, y]);
    const tfd = ds.toTfData({ batchSize: 4 });
    const shapes: number[][] = [];
    await tfd.forEachAsync((b) => {
      shapes.push(b.xs.shape);
      tf.dispose([b.xs, b.ys]);
    });
    expect(shapes).toEqual([[4, 4, 4, 3], [2, 4, 4, 3]]);
    const shown = smallImages(6).show({ n: 4 })[DISPLAY_SYMBOL]();
    const fig = shown["application/vnd.plotly.v1+json"] as { data: { source: string }[]; layout: { annotations: { text: string }[] } };
    expect(fig.data[0].source).toMatch(/^data:image\/png;base64,/);
    expect(fig.layout.annotations.map((a) => a.text)).toEqual(["a", "b", "c", "a"]);
    expect(() => fromTensors(new Float32Array(10), new Int32Array(5)).show()).toThrow(/show\(\) draws images/);
    expect(String(ds)).toMatch(/6 samples.*3 classes.*double/);
    const summary = ds[DISPLAY_SYMBOL]();
    // A short multi-line summary (the one-line form stays toString()).
    expect(summary["text/plain"]).toBe("tensors\n  samples:     6\n  input shape: [4, 4, 3]\n  3 classes:   a (2), b (2), c (2)\n  transforms:  double");
    expect(summary["text/html"]).toContain("<td style=\"text-align:left\">a (2), b (2), c (2)</td>");
  });
});
