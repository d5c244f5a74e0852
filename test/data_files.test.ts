import { describe, it, expect, beforeAll, afterAll } from "vitest";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import * as jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { csv, imageFolder } from "../src/data";

let tmp: string;
beforeAll(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lepton-files-")); });
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function firstBatch(ds: { batches: (o: { batchSize: number }) => AsyncIterableIterator<{ x: tf.Tensor; y: tf.Tensor }> }, n: number) {
  const it = ds.batches({ batchSize: n });
  const { value } = await it.next();
  await it.return?.(undefined);
  const out = { x: Array.from(value.x.dataSync(), Number), y: Array.from(value.y.dataSync(), Number), shape: value.x.shape };
  tf.dispose([value.x, value.y]);
  return out;
}

describe("csv", () => {
  const file = () => path.join(tmp, "pets.csv");
  beforeAll(() => {
    fs.writeFileSync(file(), "weight,colour,age,kind\n4.5,black,3,cat\n30,brown,5,dog\n3.2, white ,1,cat\n25,black,7,dog\n");
  });

  it("reads numeric and one-hot categorical features and text class labels", async () => {
    const ds = csv(file(), { label: "kind" });
    expect(ds.classes).toEqual(["cat", "dog"]);
    expect(ds.featureNames).toEqual(["weight", "colour=black", "colour=brown", "colour=white", "age"]);
    expect(ds.categories).toEqual({ colour: ["black", "brown", "white"] });
    const b = await firstBatch(ds, 4);
    expect(b.shape).toEqual([4, 5]);
    expect(b.x.slice(0, 10)).toEqual([4.5, 1, 0, 0, 3, 30, 0, 1, 0, 5]);
    expect(b.x.slice(10, 15).map((v) => Math.round(v * 10) / 10)).toEqual([3.2, 0, 0, 1, 1]);
    expect(b.y).toEqual([0, 1, 0, 1]);
  });

  it("index-encodes categories on request, picks features, and makes regression from a real-valued label", async () => {
    const idx = csv(file(), { label: "kind", categorical: "index", features: ["colour", "age"] });
    expect(idx.featureNames).toEqual(["colour", "age"]);
    expect((await firstBatch(idx, 4)).x).toEqual([0, 3, 1, 5, 2, 1, 0, 7]);
    const reg = csv(file(), { label: "weight", features: ["age"] });
    expect(reg.classes).toBeUndefined();
    expect(reg.targetShape).toEqual([1]);
    expect((await firstBatch(reg, 4)).y.map((v) => Math.round(v * 10) / 10)).toEqual([4.5, 30, 3.2, 25]);
    const cls = csv(file(), { label: "age", features: ["weight"] });
    expect(cls.classes).toEqual(["1", "3", "5", "7"]);
  });

  it("says which row and column is missing, and which columns exist", () => {
    fs.writeFileSync(path.join(tmp, "gap.csv"), "a,b\n1,2\n3,\n");
    expect(() => csv(path.join(tmp, "gap.csv"), { label: "b" })).toThrow(/row 3 .* no value in column "b"/);
    expect(() => csv(file(), { label: "species" })).toThrow(/no column "species"; its columns are weight, colour, age, kind/);
  });
});

describe("imageFolder", () => {
  beforeAll(() => {
    const root = path.join(tmp, "imgs");
    fs.mkdirSync(path.join(root, "red"), { recursive: true });
    fs.mkdirSync(path.join(root, "blue"), { recursive: true });
    // PNG 4x4: left half red (255,0,0), right half (0,0,255)-ish green stripe to test resizing.
    const png = new PNG({ width: 4, height: 4 });
    for (let i = 0; i < 16; i++) png.data.set([200, 10, 20, 255], i * 4);
    fs.writeFileSync(path.join(root, "red", "a.png"), PNG.sync.write(png));
    const two = new PNG({ width: 2, height: 2 });
    two.data.set([0, 0, 0, 255, 255, 255, 255, 255, 10, 20, 30, 255, 40, 50, 60, 255]);
    fs.writeFileSync(path.join(root, "red", "b.png"), PNG.sync.write(two));
    const rgba = Buffer.alloc(8 * 8 * 4);
    for (let i = 0; i < 64; i++) rgba.set([10, 20, 220, 255], i * 4);
    fs.writeFileSync(path.join(root, "blue", "c.jpg"), jpeg.encode({ data: rgba, width: 8, height: 8 }, 95).data);
    fs.writeFileSync(path.join(root, "blue", "notes.txt"), "not an image");
  });

  it("reads classes from subfolders, decodes PNG and JPEG, resizes to the given size", async () => {
    const ds = imageFolder(path.join(tmp, "imgs"), { size: 2 });
    expect(ds.classes).toEqual(["blue", "red"]);
    expect(ds.size).toBe(3);
    expect(ds.inputShape).toEqual([2, 2, 3]);
    expect(Array.from(ds.labels())).toEqual([0, 1, 1]);
    const b = await firstBatch(ds, 3);
    const px = b.x.map((v) => Math.round(v * 255));
    // The JPEG is a solid colour: every pixel close to (10, 20, 220).
    for (let p = 0; p < 4; p++) {
      expect(Math.abs(px[p * 3] - 10)).toBeLessThanOrEqual(3);
      expect(Math.abs(px[p * 3 + 2] - 220)).toBeLessThanOrEqual(3);
    }
    // Solid PNG downscaled stays the same colour exactly; a 2x2 PNG at size 2 is unchanged.
    expect(px.slice(12, 24)).toEqual([200, 10, 20, 200, 10, 20, 200, 10, 20, 200, 10, 20]);
    expect(px.slice(24, 36)).toEqual([0, 0, 0, 255, 255, 255, 10, 20, 30, 40, 50, 60]);
    const grey = imageFolder(path.join(tmp, "imgs"), { size: [1, 1], channels: 1 });
    expect(grey.inputShape).toEqual([1, 1, 1]);
  });

  it("names an undecodable file and an empty folder", () => {
    fs.mkdirSync(path.join(tmp, "broken", "x"), { recursive: true });
    fs.writeFileSync(path.join(tmp, "broken", "x", "bad.png"), "this is not a png");
    expect(() => imageFolder(path.join(tmp, "broken"), { size: 4 })).toThrow(/bad\.png: not a JPEG or PNG/);
    fs.mkdirSync(path.join(tmp, "empty"), { recursive: true });
    expect(() => imageFolder(path.join(tmp, "empty"), { size: 4 })).toThrow(/no class subfolders/);
  });
});
