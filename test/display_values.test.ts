/**
 * Rich values as a cell's result (toMimeBundle): tensors (text like NumPy's repr, HTML tables,
 * summaries and images), datasets (summary and a head of samples), CSV head()/describe(), and the
 * one-line results of display handles, records and `await lepton.ready()`.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PNG } from "pngjs";
import { display, setDisplaySink, toMimeBundle, type DisplaySink, type MimeBundle } from "../src/display/display";
import { record } from "../src/display/record";
import { backendLine, ready } from "../src/backend";
import { csv, fromTensors } from "../src/data";
import { DataTable } from "../src/data/table";

const text = (v: unknown) => toMimeBundle(v)["text/plain"] as string;
const html = (v: unknown) => String(toMimeBundle(v)["text/html"]);

/** The text of every <td> cell, in document order. */
function cells(markup: string): string[] {
  return [...markup.matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((m) => m[1]);
}

/** Every inline PNG in the markup, decoded. */
function pngs(markup: string): PNG[] {
  return [...markup.matchAll(/src="data:image\/png;base64,([^"]+)"/g)].map((m) => PNG.sync.read(Buffer.from(m[1], "base64")));
}

function pixel(png: PNG, x: number, y: number): number[] {
  const o = (y * png.width + x) * 4;
  return Array.from(png.data.subarray(o, o + 4));
}

let messages: MimeBundle[] = [];
let metadatas: object[] = [];
const sink: DisplaySink = {
  display: (b, m) => (messages.push(b), metadatas.push(m)),
  update: (b, m) => (messages.push(b), metadatas.push(m)),
};

beforeAll(async () => {
  await ready();
});

beforeEach(() => {
  messages = [];
  metadatas = [];
  setDisplaySink(sink);
});

afterEach(() => setDisplaySink(undefined));

describe("a tensor as a cell's value", () => {
  it("rank 0 to 4: shape, dtype and the values nested like NumPy's repr; no engine internals", () => {
    const before = tf.memory().numTensors;
    const t0 = tf.scalar(3.5);
    const t1 = tf.tensor1d([1, 2.5, -3]);
    const t2 = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
    const t3 = tf.tensor3d(Array.from({ length: 24 }, (_, i) => i), [2, 3, 4], "int32");
    const t4 = tf.tensor4d(Array.from({ length: 16 }, (_, i) => i / 4), [2, 2, 2, 2]);
    const made = tf.memory().numTensors;
    expect(made - before).toBe(5);

    expect(text(t0)).toBe("Tensor(shape=[], dtype=float32)\n3.5");
    expect(text(t1)).toBe("Tensor(shape=[3], dtype=float32)\n[  1, 2.5,  -3]");
    expect(text(t2)).toBe("Tensor(shape=[2, 3], dtype=float32)\n[[1, 2, 3],\n [4, 5, 6]]");
    // NumPy: blocks of a 3-D array are separated by a blank line.
    expect(text(t3)).toBe(
      "Tensor(shape=[2, 3, 4], dtype=int32)\n" +
        "[[[ 0,  1,  2,  3],\n  [ 4,  5,  6,  7],\n  [ 8,  9, 10, 11]],\n\n" +
        " [[12, 13, 14, 15],\n  [16, 17, 18, 19],\n  [20, 21, 22, 23]]]",
    );
    const lines4 = text(t4).split("\n");
    expect(lines4[0]).toBe("Tensor(shape=[2, 2, 2, 2], dtype=float32)");
    expect(lines4[1]).toBe("[[[[   0, 0.25],");
    expect(lines4[lines4.length - 1]).toBe("   [ 3.5, 3.75]]]]");
    for (const t of [t0, t1, t2, t3, t4]) expect(text(t)).not.toMatch(/dataId|kept|isDisposedInternal/);

    // float32 values in the fewest digits that are the same float32
    expect(text(tf.tensor1d([0.1, 1 / 3]))).toBe("Tensor(shape=[2], dtype=float32)\n[       0.1, 0.33333334]");
    expect(text(tf.tensor1d([true, false], "bool"))).toBe("Tensor(shape=[2], dtype=bool)\n[ true, false]");
    tf.dispose([t0, t1, t2, t3, t4]);
  });

  it("text/html: a table for rank 1 and 2, a min/max/mean line for rank 3 and more", () => {
    const t0 = tf.scalar(-2);
    const t1 = tf.tensor1d([7, 8, 9], "int32");
    const t2 = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
    const t3 = tf.tensor3d(Array.from({ length: 24 }, (_, i) => i), [2, 3, 4]);
    const t4 = tf.tensor4d([1, -1, 2, -2, 3, -3, 4, 6], [2, 2, 2, 1]);
    expect(html(t0)).toContain("Tensor(shape=[], dtype=float32): <b>-2</b>");
    expect(cells(html(t1))).toEqual(["7", "8", "9"]);
    expect(html(t1)).toContain("Tensor(shape=[3], dtype=int32)");
    const h2 = html(t2);
    expect(cells(h2)).toEqual(["1", "2", "3", "4", "5", "6"]);
    expect(h2.match(/<tr>/g)!.length).toBe(3); // a header row of column numbers, two rows of values
    // 0..23: min 0, max 23, mean 11.5
    expect(html(t3)).toContain("Tensor(shape=[2, 3, 4], dtype=float32) min=0 max=23 mean=11.5");
    expect(cells(html(t3))).toEqual([]);
    // 1 - 1 + 2 - 2 + 3 - 3 + 4 + 6 = 10 over 8 values
    expect(html(t4)).toContain("min=-3 max=6 mean=1.25");
    tf.dispose([t0, t1, t2, t3, t4]);
  });

  it("more than 1000 elements: first and last 3 of each axis around '...', in text and HTML", () => {
    const exactly = tf.range(0, 1000, 1, "int32");
    expect(text(exactly)).not.toContain("...");
    const over = tf.range(0, 1001, 1, "int32");
    expect(text(over)).toBe("Tensor(shape=[1001], dtype=int32)\n[   0,    1,    2, ...,  998,  999, 1000]");
    expect(cells(html(over))).toEqual(["0", "1", "2", "…", "998", "999", "1000"]);

    // 40 x 30 = 1200 > 1000: rows 0-2 and 37-39, columns 0-2 and 27-29
    const m = tf.range(0, 1200, 1, "int32").reshape([40, 30]);
    const lines = text(m).split("\n");
    expect(lines.length).toBe(1 + 7);
    const row = (r: number) => [0, 1, 2].map((c) => r * 30 + c).concat([27, 28, 29].map((c) => r * 30 + c));
    const expected = [0, 1, 2, 37, 38, 39].map((r) => row(r).map((v) => String(v).padStart(4)));
    expect(lines[1]).toBe(`[[${expected[0].slice(0, 3).join(", ")}, ..., ${expected[0].slice(3).join(", ")}],`);
    expect(lines[4]).toBe(" ...,");
    expect(lines[7]).toBe(` [${expected[5].slice(0, 3).join(", ")}, ..., ${expected[5].slice(3).join(", ")}]]`);
    const tds = cells(html(m));
    expect(tds.length).toBe(7 * 7);
    expect(tds.slice(0, 7)).toEqual(["0", "1", "2", "…", "27", "28", "29"]);
    expect(tds.slice(21, 28)).toEqual(["⋮", "⋮", "⋮", "⋱", "⋮", "⋮", "⋮"]);
    expect(tds.slice(42)).toEqual(["1170", "1171", "1172", "…", "1197", "1198", "1199"]);
    expect(html(m)).toContain(">37</th>");

    // rank 3 above the threshold: every long axis summarised
    const cube = tf.range(0, 2000).reshape([20, 10, 10]);
    const t = text(cube);
    expect(t).toContain("...");
    expect(t.split("\n").length).toBeLessThan(60);
    expect(html(cube)).toContain("min=0 max=1999 mean=999.5");
    tf.dispose([exactly, over, m, cube]);
  });

  it("long rows wrap at 75 columns; no line is longer", () => {
    const t = tf.range(0, 30, 1, "int32");
    const lines = text(t).split("\n").slice(1);
    expect(lines.length).toBe(2);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(75);
    expect(lines.join(" ").replace(/[[\]\s]/g, "").split(",").map(Number)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    t.dispose();
  });

  it("an image tensor [h, w, c] is an inline PNG of its size with the right pixels, and the summary under it", () => {
    // float RGB in [0, 1]: pixel (x, y) = (x / 5, y / 4, 0.5)
    const h = 5, w = 6;
    const rgb: number[] = [];
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) rgb.push(x / 5, y / 4, 0.5);
    const img = tf.tensor3d(rgb, [h, w, 3]);
    const markup = html(img);
    const [png] = pngs(markup);
    expect([png.width, png.height]).toEqual([w, h]);
    for (const [x, y] of [[0, 0], [5, 4], [3, 2]]) {
      expect(pixel(png, x, y)).toEqual([Math.round((x / 5) * 255), Math.round((y / 4) * 255), 128, 255]);
    }
    expect(markup).toContain("Tensor(shape=[5, 6, 3], dtype=float32) min=0 max=1 mean=");

    // int32 grey 0-255, clamped: -5 -> 0, 300 -> 255
    const grey = tf.tensor3d([-5, 0, 100, 300, 10, 20, 30, 40, 50, 60, 70, 80, 90, 200, 250, 255], [4, 4, 1], "int32");
    const [g] = pngs(html(grey));
    expect([g.width, g.height]).toEqual([4, 4]);
    expect(pixel(g, 0, 0)).toEqual([0, 0, 0, 255]);
    expect(pixel(g, 2, 0)).toEqual([100, 100, 100, 255]);
    expect(pixel(g, 3, 0)).toEqual([255, 255, 255, 255]);
    expect(pixel(g, 1, 3)).toEqual([200, 200, 200, 255]);
    expect(pixel(g, 3, 3)).toEqual([255, 255, 255, 255]);

    // float 0-255 RGBA keeps its alpha
    const rgba = tf.fill([4, 4, 4], 0).add(tf.tensor1d([10, 20, 30, 128])) as tf.Tensor3D;
    const [a] = pngs(html(rgba));
    expect(pixel(a, 2, 2)).toEqual([10, 20, 30, 128]);
    tf.dispose([img, grey, rgba]);
  });

  it("a disposed tensor says so instead of throwing; other dtypes; duck-typed tensors from any tfjs copy", () => {
    const t = tf.tensor2d([[1, 2], [3, 4]]);
    t.dispose();
    expect(() => toMimeBundle(t)).not.toThrow();
    expect(text(t)).toBe("Tensor(shape=[2, 2], dtype=float32) (disposed)");
    expect(html(t)).toContain("(disposed)");

    const s = tf.tensor1d(["a", "b<c"], "string");
    expect(text(s)).toBe('Tensor(shape=[2], dtype=string)\n[  "a", "b<c"]');
    expect(html(s)).toContain("&quot;b&lt;c&quot;");
    s.dispose();
    const v = tf.variable(tf.tensor1d([1, 2]), true, "weights");
    expect(text(v)).toBe("Variable(name=weights, shape=[2], dtype=float32, trainable=true)\n[1, 2]");
    v.dispose();

    // Not this copy's tf.Tensor class: recognised by its fields.
    const foreign = { dataId: {}, shape: [2], dtype: "float32", isDisposed: false, dataSync: () => new Float32Array([5, 6]) };
    expect(text(foreign)).toBe("Tensor(shape=[2], dtype=float32)\n[5, 6]");
    // Plain objects still go through util.inspect.
    expect(text({ shape: [2], dtype: "x" })).toBe("{ shape: [ 2 ], dtype: 'x' }");
  });

  it("showing tensors creates no tensors (numTensors unchanged), also through lepton.display", () => {
    const ts = [
      tf.scalar(1),
      tf.tensor1d([1, 2]),
      tf.ones([3, 3]),
      tf.ones([2, 2, 2]),
      tf.ones([8, 8, 3]),
      tf.ones([2, 2, 2, 2]),
      tf.range(0, 5000).reshape([50, 100]),
    ];
    const before = tf.memory().numTensors;
    for (const t of ts) toMimeBundle(t);
    display(ts[2]);
    expect(tf.memory().numTensors).toBe(before);
    expect(messages[0]["text/plain"]).toBe("Tensor(shape=[3, 3], dtype=float32)\n[[1, 1, 1],\n [1, 1, 1],\n [1, 1, 1]]");
    tf.dispose(ts);
  });
});

/** n images 4x4x3 with pixel value (sample*7 + position) % 256, labels i % 3. */
function smallImages(n: number) {
  const x = new Uint8Array(n * 48);
  for (let i = 0; i < x.length; i++) x[i] = (Math.floor(i / 48) * 7 + (i % 48)) % 256;
  const y = Int32Array.from({ length: n }, (_, i) => i % 3);
  return fromTensors(x, y, { inputShape: [4, 4, 3], classes: ["cat", "dog", "eel"], name: "pets" });
}

describe("a dataset as a cell's value", () => {
  it("image data: a short summary and a grid of the first 8 images with their labels", () => {
    const ds = smallImages(10);
    expect(text(ds)).toBe("pets\n  samples:     10\n  input shape: [4, 4, 3]\n  3 classes:   cat (4), dog (3), eel (3)");
    const markup = html(ds);
    const images = pngs(markup);
    expect(images.length).toBe(8);
    // sample 5, pixel (x=2, y=1): position (1 * 4 + 2) * 3 = 18, values (5*7 + 18 + c) % 256
    expect([images[5].width, images[5].height]).toEqual([4, 4]);
    expect(pixel(images[5], 2, 1)).toEqual([53, 54, 55, 255]);
    const labels = [...markup.matchAll(/<br><span[^>]*>([^<]*)<\/span>/g)].map((m) => m[1]);
    expect(labels).toEqual(["cat", "dog", "eel", "cat", "dog", "eel", "cat", "dog"]);
    expect(markup).toContain("first 8 samples");
    // a shuffled view shows its own first samples
    expect(pngs(html(ds.take(3))).length).toBe(3);
  });

  it("grey images [h, w] and float images in [0, 1]", () => {
    const x = new Float32Array(2 * 6 * 5).map((_, i) => (i % 30) / 29);
    const ds = fromTensors(x, new Int32Array([0, 1]), { inputShape: [6, 5] });
    const [first] = pngs(html(ds));
    expect([first.width, first.height]).toEqual([5, 6]);
    expect(pixel(first, 4, 5)).toEqual([255, 255, 255, 255]);
    expect(pixel(first, 1, 0)).toEqual(Array(3).fill(Math.round((1 / 29) * 255)).concat(255));
  });

  it("tabular data: a table of the first rows with its columns and targets", () => {
    const x = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    const ds = fromTensors(x, new Float32Array([0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5]), { inputShape: [2], name: "points" });
    expect(text(ds)).toBe("points\n  samples:      7\n  input shape:  [2]\n  target shape: [1]\n  columns:      x0, x1");
    const markup = html(ds);
    expect(markup).toContain("first 5 rows");
    expect(markup).toContain(">x0</th>");
    expect(markup).toContain(">target</th>");
    // the summary's cells, then rows 0-4: x0 = 2i + 1, x1 = 2i + 2, target = i + 0.5
    const rows = [0, 1, 2, 3, 4].flatMap((i) => [String(2 * i + 1), String(2 * i + 2), String(i + 0.5)]);
    expect(cells(markup)).toEqual(["7", "[2]", "[1]", "x0, x1", ...rows]);
    expect(pngs(markup)).toEqual([]);
    expect(() => smallImages(2).head()).toThrow(/head\(\) lists table rows; pets has inputs of shape \[4, 4, 3\]/);
  });
});

describe("CSV head() and describe()", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lepton-csv-display-"));
  const file = path.join(dir, "fish.csv");
  fs.writeFileSync(file, "a,colour,b,kind\n1,red,0.5,x\n2,blue,0.5,y\n3,red,1.5,x\n10,green,2.5,y\n");

  it("head(n) gives the rows as read, text categories and the label included", () => {
    const ds = csv(file, { label: "kind" });
    const head = ds.head(3);
    expect(head).toBeInstanceOf(DataTable);
    expect(head.columns).toEqual(["a", "colour", "b", "kind"]);
    expect(head.index).toEqual([0, 1, 2]);
    expect(head.rows).toEqual([[1, "red", 0.5, "x"], [2, "blue", 0.5, "y"], [3, "red", 1.5, "x"]]);
    expect(text(head)).toBe("fish.csv\n   a  colour    b  kind\n0  1     red  0.5     x\n1  2    blue  0.5     y\n2  3     red  1.5     x");
    expect(cells(html(head))).toEqual(["1", "red", "0.5", "x", "2", "blue", "0.5", "y", "3", "red", "1.5", "x"]);
    expect(ds.head().rows.length).toBe(4); // default 5, only 4 rows
    // survives split/take: row labels are the file's row numbers
    expect(ds.shuffled(1).take(2).head().index.every((i) => [0, 1, 2, 3].includes(i as number))).toBe(true);
    // the dataset display shows the same rows
    expect(html(ds)).toContain(">green</td>");
  });

  it("describe(): count, mean, std (n - 1), min, quartiles (linear), max of the numeric columns, as computed by hand", () => {
    const d = csv(file, { label: "kind" }).describe();
    expect(d.columns).toEqual(["a", "b"]);
    expect(d.index).toEqual(["count", "mean", "std", "min", "25%", "50%", "75%", "max"]);
    // a = 1, 2, 3, 10: mean 4; squares of deviations 9 + 4 + 1 + 36 = 50, std sqrt(50 / 3);
    // quartile positions (n - 1) q = 0.75, 1.5, 2.25 -> 1.75, 2.5, 3 + 0.25 * 7 = 4.75
    const a = [4, 4, Math.sqrt(50 / 3), 1, 1.75, 2.5, 4.75, 10];
    // b = 0.5, 0.5, 1.5, 2.5: mean 1.25; 0.5625 + 0.5625 + 0.0625 + 1.5625 = 2.75, std sqrt(2.75 / 3);
    // quartiles 0.5, 1, 1.5 + 0.25 * 1 = 1.75
    const b = [4, 1.25, Math.sqrt(2.75 / 3), 0.5, 0.5, 1, 1.75, 2.5];
    const [count] = d.column("a");
    expect(count).toBe(4);
    d.column("a").forEach((v, i) => expect(v).toBeCloseTo(a[i], 10));
    d.column("b").forEach((v, i) => expect(v).toBeCloseTo(b[i], 10));
    expect(d.get("std", "a")).toBeCloseTo(4.08248, 5);
    const t = text(d);
    expect(t).toBe([
      "fish.csv",
      "             a         b",
      "count        4         4",
      "mean         4      1.25",
      "std    4.08248  0.957427",
      "min          1       0.5",
      "25%       1.75       0.5",
      "50%        2.5         1",
      "75%       4.75      1.75",
      "max         10       2.5",
    ].join("\n"));
    expect(cells(html(d))).toContain("4.08248");
    // on a subset: the subset's rows
    const [part] = csv(file, { label: "kind" }).split(0.5, { seed: 3 });
    expect(part.describe().get("count", "a")).toBe(2);
  });
});

describe("nothing or one short line for handles, records and the backend", () => {
  it("a display handle as a cell's value shows nothing (as IPython's display()), not its fields", () => {
    const h = display("hello", { displayId: "d1a2b3c4d5e6" });
    expect(toMimeBundle(h)).toEqual({});
    expect(String(h)).toBe("<display handle d1a2b3c4…>");
    const other = display(1);
    expect(String(other)).toMatch(/^<display handle [0-9a-f]{8}…>$/);
    // displaying a handle again shows nothing either
    display(other);
    // the handle still works
    h.update("again");
    expect(messages.map((m) => m["text/plain"])).toEqual(["hello", "1", "again"]);
  });

  it("lepton.record(...) shows its line once; as a cell's value it adds nothing", () => {
    const r = record("test_accuracy", 0.52);
    // Only text in the data (every frontend renders it, VS Code included); the value rides in the output's metadata.
    expect(messages[0]).toEqual({ "text/plain": "test_accuracy = 0.5200" });
    expect(metadatas[0]).toEqual({ "lepton.record": { test_accuracy: 0.52 } });
    expect(toMimeBundle(r)).toEqual({});
    expect(String(r)).toBe("test_accuracy = 0.5200");
    expect(typeof r.update).toBe("function");
    expect(typeof r.displayId).toBe("string");
  });

  it("`await lepton.ready()` as a cell's value is the one backend line; its fields are unchanged", async () => {
    const info = await ready();
    expect(toMimeBundle(info)).toEqual({ "text/plain": backendLine(info) });
    expect(backendLine(info)).not.toContain("\n");
    expect(backendLine(info)).toMatch(/^lepton backend: /);
    // the display method is not one of its fields (JSON, spreads and key lists stay as before)
    expect(Object.keys(info)).not.toContain("Symbol(Jupyter.display)");
    expect(Object.getOwnPropertySymbols({ ...info })).toEqual([]);
    expect(JSON.parse(JSON.stringify(info)).name).toBe(info.name);
  });
});
