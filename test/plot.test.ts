import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { PNG } from "pngjs";
import { display, setDisplaySink, toMimeBundle, type DisplaySink, type MimeBundle } from "../src/display/display";
import * as plot from "../src/display/plot";
import { resetLibrarySession } from "../src/display/plot/library";
import { noteCellStarted, resetCellLog } from "../src/display/cells";

/** A display sink that records what a kernel would send (display_data / update_display_data). */
function recordingSink() {
  const messages: { kind: "display" | "update"; bundle: MimeBundle; displayId: string | undefined }[] = [];
  const sink: DisplaySink = {
    display: (bundle, _m, displayId) => messages.push({ kind: "display", bundle, displayId }),
    update: (bundle, _m, displayId) => messages.push({ kind: "update", bundle, displayId }),
  };
  return { sink, messages };
}

const LIB = plot.plotlyLibrary();
/** A string found once in plotly.js and nowhere else: its banner line. */
const LIB_MARK = LIB.source.slice(0, 200).split("\n").find((l) => /plotly\.js v\d/.test(l))!;

function countLibrary(html: string): number {
  return html.split(LIB_MARK).length - 1;
}

beforeEach(() => {
  // each test is a fresh kernel session
  resetCellLog();
  resetLibrarySession();
});
afterEach(() => setDisplaySink(undefined));

describe("mime bundles", () => {
  it("carry the Plotly JSON as an object, HTML without plotly.js or any URL, and a short text", () => {
    const fig = plot.line({ y: [1, 2, 4], name: "loss" }, { title: "Loss", xaxis: { title: "step" }, yaxis: { title: "loss", type: "log" } });
    const bundle = toMimeBundle(fig);
    const json = bundle[plot.PLOTLY_MIME] as plot.FigureJSON;
    expect(typeof json).toBe("object");
    expect(json.data[0]).toMatchObject({ type: "scatter", mode: "lines", x: [0, 1, 2], y: [1, 2, 4], name: "loss" });
    expect(json.layout).toMatchObject({ title: { text: "Loss" }, xaxis: { title: { text: "step" } }, yaxis: { title: { text: "loss" }, type: "log" } });
    expect(json.config).toMatchObject({ responsive: true });
    // JSON round trip is lossless (the part is valid JSON).
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
    const html = bundle["text/html"] as string;
    expect(countLibrary(html)).toBe(0);
    expect(html.length).toBeLessThan(10_000);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).toContain("P.newPlot(el, figure)");
    expect(html).not.toContain("\n    })(module");
    expect(bundle["text/plain"]).toBe('line chart "Loss": loss (3 points)');
  });

  it("escapes figure text so that it cannot close the script element", () => {
    const fig = plot.bar({ x: ["</script><b>x</b>", "b"], y: [1, 2] }, { title: "a\u2028b" });
    const html = toMimeBundle(fig)["text/html"] as string;
    expect(html.match(/<\/script>/g)!.length).toBe(1);
    expect(html).toContain("\\u003c/script>\\u003cb>x\\u003c/b>");
    // The JSON inside the script parses back to the same figure.
    const literal = html.match(/var figure = (.*);\n/)![1];
    expect(JSON.parse(literal)).toEqual(fig.toJSON());
  });

  it("sends plotly.js exactly once per kernel session, in its own output before the first chart", () => {
    const { sink, messages } = recordingSink();
    setDisplaySink(sink);
    const figs = Array.from({ length: 10 }, (_, i) => plot.scatter({ x: [i, i + 1], y: [1, 2] }, { title: `chart ${i}` }));
    // Half shown with display(), half as a cell's last value (the kernel asks for the bundle).
    const results: MimeBundle[] = [];
    figs.forEach((f, i) => (i % 2 ? f.show() : results.push(toMimeBundle(f))));
    const htmls = [...messages.map((m) => m.bundle["text/html"] as string), ...results.map((b) => b["text/html"] as string)];
    expect(htmls.reduce((n, h) => n + countLibrary(h), 0)).toBe(1);
    expect(countLibrary(messages[0].bundle["text/html"] as string)).toBe(1);
    expect(messages[0].bundle[plot.PLOTLY_MIME]).toBeUndefined();
    expect(messages[0].bundle["text/plain"]).toMatch(/^plotly\.js \d/);
    // The kernel may install a new sink object per cell: still the same session, no new library.
    const perCell = recordingSink();
    setDisplaySink(perCell.sink);
    plot.line({ y: [0] }).show();
    expect(perCell.messages.map((m) => countLibrary(m.bundle["text/html"] as string))).toEqual([0]);
    // A new session (kernel restart: a new process) gets the library again, once.
    resetLibrarySession();
    const second = recordingSink();
    setDisplaySink(second.sink);
    plot.line({ y: [1] }).show();
    plot.line({ y: [2] }).show();
    expect(second.messages.reduce((n, m) => n + countLibrary(m.bundle["text/html"] as string), 0)).toBe(1);
    expect(second.messages).toHaveLength(3);
  });

  it("sends the library again when the cell that carried it runs again (Run All without a restart)", () => {
    const { sink, messages } = recordingSink();
    setDisplaySink(sink);
    const libraries = () => messages.map((m) => countLibrary(m.bundle["text/html"] as string));
    const a = `plot.line({ y: [1, 2] })`;
    const b = `plot.bar({ x: ["a"], y: [1] })`;
    // First pass: cell A carries the library, cell B does not.
    noteCellStarted({ code: a });
    plot.line({ y: [1, 2] }).show();
    noteCellStarted({ code: b });
    plot.bar({ x: ["a"], y: [1] }).show();
    expect(libraries()).toEqual([1, 0, 0]);
    // Re-running B alone leaves A's output (and the library) on the page.
    noteCellStarted({ code: b });
    plot.bar({ x: ["a"], y: [1] }).show();
    expect(libraries()).toEqual([1, 0, 0, 0]);
    // Run All: A runs again, so the frontend cleared the library; A carries it again, B does not.
    noteCellStarted({ code: a });
    plot.line({ y: [1, 2] }).show();
    noteCellStarted({ code: b });
    plot.bar({ x: ["a"], y: [1] }).show();
    expect(libraries()).toEqual([1, 0, 0, 0, 1, 0, 0]);
    // A carrier cell edited to show no chart: the next chart, in another cell, carries the library.
    noteCellStarted({ code: a });
    noteCellStarted({ code: b });
    plot.bar({ x: ["a"], y: [1] }).show();
    expect(libraries()).toEqual([1, 0, 0, 0, 1, 0, 0, 1, 0]);
  });

  it("knows cells by the frontend's cellId when it sends one (the same code in two cells is two cells)", () => {
    const { sink, messages } = recordingSink();
    setDisplaySink(sink);
    const code = `plot.line({ y: [1] })`;
    noteCellStarted({ cellId: "first", code });
    plot.line({ y: [1] }).show();
    noteCellStarted({ cellId: "second", code });
    plot.line({ y: [1] }).show();
    noteCellStarted({ cellId: "first", code: code + " // edited" });
    plot.line({ y: [1] }).show();
    expect(messages.map((m) => countLibrary(m.bundle["text/html"] as string))).toEqual([1, 0, 0, 1, 0]);
  });

  it("includeLibrary() re-sends the library on demand", () => {
    const { sink, messages } = recordingSink();
    setDisplaySink(sink);
    plot.line({ y: [1] }).show();
    plot.includeLibrary();
    plot.line({ y: [1] }).show();
    expect(messages.map((m) => countLibrary(m.bundle["text/html"] as string))).toEqual([1, 0, 1, 0]);
  });

  it("makes a standalone page with the library once and no network URL", () => {
    const page = plot.heatmap([[1, 2], [3, 4]]).toHTML();
    expect(countLibrary(page)).toBe(1);
    expect(page).not.toMatch(/<script[^>]+src=/);
    expect(page.startsWith("<!DOCTYPE html>")).toBe(true);
  });
});

describe("live figures", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("merge changes into at most maxUpdatesPerSecond updates, flush the rest, never resend plotly.js", () => {
    const { sink, messages } = recordingSink();
    setDisplaySink(sink);
    const live = plot.live(plot.line([{ y: [], name: "train" }, { y: [], name: "val" }]), { maxUpdatesPerSecond: 4 });
    expect(messages.map((m) => m.kind)).toEqual(["display", "display"]);
    for (let i = 0; i < 100; i++) live.extend(0, i, i * i);
    expect(live.updatesSent).toBe(0); // the first display was just sent: wait 250 ms
    vi.advanceTimersByTime(249);
    expect(live.updatesSent).toBe(0);
    vi.advanceTimersByTime(1);
    expect(live.updatesSent).toBe(1);
    live.extend(1, [0, 1], [5, 6]);
    live.flush();
    expect(live.updatesSent).toBe(2);
    live.flush(); // nothing pending
    expect(live.updatesSent).toBe(2);
    const updates = messages.filter((m) => m.kind === "update");
    expect(updates).toHaveLength(2);
    const chartId = messages[1].displayId;
    expect(updates.every((u) => u.displayId === chartId)).toBe(true);
    expect(updates.every((u) => countLibrary(u.bundle["text/html"] as string) === 0)).toBe(true);
    const last = updates[1].bundle[plot.PLOTLY_MIME] as plot.FigureJSON;
    expect(last.data[0].y).toEqual(Array.from({ length: 100 }, (_, i) => i * i));
    expect(last.data[1]).toMatchObject({ x: [0, 1], y: [5, 6], name: "val" });
  });

  it("keeps a window of maxPoints, replaces data and rejects a missing trace", () => {
    const { sink, messages } = recordingSink();
    setDisplaySink(sink);
    const original = plot.line({ y: [] });
    const live = plot.live(original, { maxPoints: 3 });
    live.extend(0, [1, 2, 3, 4, 5], [10, 20, 30, 40, 50]);
    live.flush();
    let json = messages[messages.length - 1].bundle[plot.PLOTLY_MIME] as plot.FigureJSON;
    expect(json.data[0]).toMatchObject({ x: [3, 4, 5], y: [30, 40, 50] });
    expect(() => live.extend(1, 1, 1)).toThrow(/no trace 1/);
    expect(original.data[0]).toMatchObject({ x: [], y: [] }); // the figure passed in is left alone
    expect(live.current().data[0]).toMatchObject({ x: [3, 4, 5], y: [30, 40, 50] });
    live.replace([{ type: "bar", x: ["a"], y: new Float32Array([2]) }], { title: { text: "now" } });
    live.close();
    json = messages[messages.length - 1].bundle[plot.PLOTLY_MIME] as plot.FigureJSON;
    expect(json.data).toEqual([{ type: "bar", x: ["a"], y: [2] }]);
    expect(json.layout.title).toEqual({ text: "now" });
    expect(() => live.extend(0, 1, 1)).toThrow(/closed/);
  });
});

describe("figure builders", () => {
  it("read tensors and typed arrays, turn NaN into gaps, and check lengths", () => {
    const before = tf.memory().numTensors;
    const x = tf.tensor1d([0, 1, 2]);
    const fig = plot.scatter({ x, y: new Float64Array([1, NaN, Infinity]), name: "d" });
    expect(fig.data[0]).toMatchObject({ x: [0, 1, 2], y: [1, null, null], mode: "markers" });
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(() => plot.line({ x: [1, 2], y: [1] })).toThrow(/2 x values but 1 y values/);
    expect(() => plot.line([])).toThrow(/empty/);
    const disposed = tf.tensor1d([1]);
    disposed.dispose();
    expect(() => plot.line({ y: disposed })).toThrow(/disposed/);
  });

  it("build bar, histogram, heatmap, contour, surface and raw figures", () => {
    expect(plot.bar([{ x: ["a", "b"], y: [1, 2], name: "p" }, { x: ["a", "b"], y: [3, 4], name: "q" }], { barmode: "stack" }).layout.barmode).toBe("stack");
    const h = plot.histogram([1, 2, 2, 3], { nbins: 3 });
    expect(h.data[0]).toMatchObject({ type: "histogram", x: [1, 2, 2, 3], nbinsx: 3 });
    expect(plot.histogram([{ x: [1], name: "a" }, { x: [2], name: "b" }]).data.map((t) => t.name)).toEqual(["a", "b"]);
    const hm = plot.heatmap(tf.tensor2d([[1, 2], [3, 4]]), { annotate: ".1f", x: ["p", "q"] });
    expect(hm.data[0]).toMatchObject({ type: "heatmap", z: [[1, 2], [3, 4]], texttemplate: "%{z:.1f}", x: ["p", "q"] });
    expect(hm.layout.yaxis).toMatchObject({ autorange: "reversed" });
    expect(plot.contour({ z: [[1, 2, 3], [4, 5, 6]], x: [0, 1, 2], y: [0, 1] }).data[0].type).toBe("contour");
    expect(() => plot.contour({ z: [[1, 2, 3]], x: [0, 1] })).toThrow(/x has 2 values but z rows have 3 columns/);
    const s = plot.surface({ z: [[1, 2], [3, 4]] }, { xaxis: "w", zaxis: { title: "loss" } });
    expect(s.layout.scene).toMatchObject({ xaxis: { title: { text: "w" } }, zaxis: { title: { text: "loss" } } });
    const raw = plot.figure([{ type: "pie", values: new Int32Array([1, 2]), labels: ["a", "b"] }], { title: { text: "Pie" } }, { staticPlot: true });
    expect(raw.toJSON()).toEqual({
      data: [{ type: "pie", values: [1, 2], labels: ["a", "b"] }],
      layout: { title: { text: "Pie" } },
      config: { responsive: true, displaylogo: false, staticPlot: true },
    });
  });

  it("lay out subplots on separate axes with non-overlapping domains", () => {
    const a = plot.line({ y: [1, 2] }, { title: "A", xaxis: "step" });
    const b = plot.heatmap([[1]], { title: "B" });
    const c = plot.surface({ z: [[1, 2], [3, 4]] });
    const fig = plot.subplots([a, b, c], { columns: 2 });
    expect(fig.data.map((t) => [t.xaxis, t.yaxis, t.scene])).toEqual([["x", "y", undefined], ["x2", "y2", undefined], [undefined, undefined, "scene3"]]);
    const xd = fig.layout.xaxis as plot.Layout, x2 = fig.layout.xaxis2 as plot.Layout;
    expect((xd.domain as number[])[1]).toBeLessThan((x2.domain as number[])[0]);
    expect(xd.title).toEqual({ text: "step" });
    expect((fig.layout.scene3 as plot.Layout).domain).toBeDefined();
    expect((fig.layout.annotations as plot.Layout[]).map((a) => a.text)).toEqual(["A", "B"]);
  });
});

describe("images", () => {
  function decode(fig: plot.Figure): PNG {
    const src = fig.data[0].source as string;
    expect(src.startsWith("data:image/png;base64,")).toBe(true);
    return PNG.sync.read(Buffer.from(src.slice(22), "base64"));
  }

  it("draws HWC uint8 pixels exactly", () => {
    const data = new Uint8Array(2 * 3 * 3).map((_, i) => (i * 13) % 256);
    const png = decode(plot.image({ data, shape: [2, 3, 3] }));
    expect([png.width, png.height]).toEqual([3, 2]);
    for (let p = 0; p < 6; p++) {
      expect([...png.data.subarray(p * 4, p * 4 + 4)]).toEqual([data[p * 3], data[p * 3 + 1], data[p * 3 + 2], 255]);
    }
  });

  it("reads CHW floats in [0, 1] and grey tensors", () => {
    const before = tf.memory().numTensors;
    const chw = tf.tensor3d([0, 1, 0.5, 0.25, /* G */ 1, 0, 0, 0, /* B */ 0, 0, 1, 1], [3, 2, 2]);
    const png = decode(plot.image(chw));
    expect([...png.data.subarray(0, 4)]).toEqual([0, 255, 0, 255]);
    expect([...png.data.subarray(4, 8)]).toEqual([255, 0, 0, 255]);
    expect([...png.data.subarray(12, 16)]).toEqual([64, 0, 255, 255]);
    chw.dispose();
    const grey = decode(plot.image([[0, 255], [128, 64]]));
    expect([...grey.data.subarray(8, 12)]).toEqual([128, 128, 128, 255]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("composes a labelled grid from a batch tensor", () => {
    const batch = tf.tidy(() => tf.stack([tf.fill([4, 4, 3], 1), tf.zeros([4, 4, 3]), tf.fill([4, 4, 3], 0.5)]));
    const fig = plot.imageGrid(batch, { labels: ["white", "black", "grey"], columns: 2, labelColors: ["red", "green", "blue"] });
    batch.dispose();
    const annotations = fig.layout.annotations as plot.Layout[];
    expect(annotations.map((a) => a.text)).toEqual(["white", "black", "grey"]);
    expect(annotations.map((a) => (a.font as plot.Layout).color)).toEqual(["red", "green", "blue"]);
    const png = decode(fig);
    // Each label's x is the centre of its image: the pixel there (just below the label) has its colour.
    const at = (x: number, y: number) => [...png.data.subarray((y * png.width + x) * 4, (y * png.width + x) * 4 + 4)];
    const cells = annotations.map((a) => at(Math.round((a.x as number) + 0.5), Math.round((a.y as number) + 0.5) + 1));
    expect(cells).toEqual([[255, 255, 255, 255], [0, 0, 0, 255], [128, 128, 128, 255]]);
    // A CHW uint8 batch [n, c, h, w] as a typed array: image 1's red channel is 200, the rest 0.
    const chw = new Uint8Array(2 * 3 * 5 * 6);
    chw.fill(200, 1 * 3 * 5 * 6, 1 * 3 * 5 * 6 + 5 * 6);
    const chwPng = decode(plot.imageGrid({ data: chw, shape: [2, 3, 5, 6] }, { columns: 2, scale: 6 }));
    expect([chwPng.width, chwPng.height]).toEqual([6 + 1 + 6, 5]);
    expect([...chwPng.data.subarray(0, 4)]).toEqual([0, 0, 0, 255]);
    expect([...chwPng.data.subarray((6 + 1) * 4, (6 + 1) * 4 + 4)]).toEqual([200, 0, 0, 255]);
    expect(() => tf.tidy(() => void plot.imageGrid(tf.zeros([2, 4, 4, 3]), { labels: ["one"] }))).toThrow(/1 labels for 2 images/);
    expect(() => plot.image({ data: [1, 2, 3], shape: [2, 2] })).toThrow(/3 values but shape \[2, 2\] needs 4/);
  });
});

describe("grey batches", () => {
  function decodeGrid(fig: plot.Figure) {
    const src = (fig.data[0] as { source: string }).source;
    return PNG.sync.read(Buffer.from(src.slice(22), "base64"));
  }

  it("reads a 3-D input to imageGrid as [n, h, w] grey images, whatever n is (1, 3 and 4 included)", () => {
    for (const n of [1, 2, 3, 4]) {
      // Image i is uniformly grey at 40 * (i + 1).
      const data = new Uint8Array(n * 5 * 7);
      for (let i = 0; i < n; i++) data.fill(40 * (i + 1), i * 35, (i + 1) * 35);
      const t = tf.tensor3d(data, [n, 5, 7], "int32");
      const fig = plot.imageGrid(t, { columns: n, scale: 6 }); // 1 image pixel between cells
      t.dispose();
      const png = decodeGrid(fig);
      expect([png.width, png.height], `n = ${n}`).toEqual([n * 7 + (n - 1), 5]);
      for (let i = 0; i < n; i++) {
        const x = i * 8 + 3;
        expect([...png.data.subarray((2 * png.width + x) * 4, (2 * png.width + x) * 4 + 4)], `n = ${n}, image ${i}`)
          .toEqual([40 * (i + 1), 40 * (i + 1), 40 * (i + 1), 255]);
      }
    }
  });

  it("still reads [h, w, c] as one image, and [c, h, w] as one image with format CHW", () => {
    const hwc = tf.zeros([6, 5, 3]);
    expect(decodeGrid(plot.imageGrid(hwc, { scale: 1 })).width).toBe(5);
    hwc.dispose();
    const chw = tf.ones([3, 6, 5]);
    const png = decodeGrid(plot.imageGrid(chw, { format: "CHW", scale: 1 }));
    chw.dispose();
    expect([png.width, png.height]).toEqual([5, 6]);
    expect([...png.data.subarray(0, 4)]).toEqual([255, 255, 255, 255]);
  });
});

describe("teaching plots", () => {
  it("activation draws the function and its derivative (checked by finite differences)", () => {
    // The values themselves, against tf's own activations, and the derivatives by finite differences.
    const reference = { sigmoid: tf.sigmoid, tanh: tf.tanh, relu: tf.relu, leakyRelu: (t: tf.Tensor) => tf.leakyRelu(t, 0.2), elu: tf.elu, softplus: tf.softplus };
    for (const name of ["sigmoid", "tanh", "relu", "leakyRelu", "elu", "softplus"] as const) {
      const [f, df] = plot.activation(name).data;
      const x = f.x as number[], y = f.y as number[], dy = df.y as number[];
      const expected = tf.tidy(() => reference[name](tf.tensor1d(x)).arraySync() as number[]);
      for (let i = 0; i < x.length; i += 11) expect(y[i], `${name}(${x[i]})`).toBeCloseTo(expected[i], 4);
      for (let i = 1; i < x.length - 1; i += 37) {
        if ((name === "relu" || name === "leakyRelu" || name === "elu") && Math.abs(x[i]) < 0.05) continue;
        const numeric = (y[i + 1] - y[i - 1]) / (x[i + 1] - x[i - 1]);
        expect(dy[i]).toBeCloseTo(numeric, 3);
      }
    }
    expect(() => plot.activation("swish" as any)).toThrow(/unknown activation "swish"/);
  });

  it("lossSurface evaluates the loss on the grid and replays the path with frames", () => {
    const loss = (w: number, b: number) => (w - 1) ** 2 + 2 * (b + 1) ** 2;
    const path: [number, number][] = [[3, 2], [2, 1], [1.5, 0], [1, -1]];
    const fig = plot.lossSurface(loss, { w: [-3, 5], b: [-4, 4] }, path, { title: "GD", resolution: 9 });
    const c = fig.data[0];
    const xs = c.x as number[], ys = c.y as number[], z = c.z as number[][];
    expect(xs).toHaveLength(9);
    expect(z[3][7]).toBeCloseTo(loss(xs[7], ys[3]), 10);
    expect(fig.data[1]).toMatchObject({ x: [3, 2, 1.5, 1], y: [2, 1, 0, -1] });
    expect(fig.frames!.map((f) => (f.data[0].x as number[]).length)).toEqual([1, 2, 3, 4]);
    expect(((fig.layout.sliders as plot.Layout[])[0].steps as unknown[]).length).toBe(4);
    expect((fig.layout.xaxis as plot.Layout).title).toEqual({ text: "w" });
    expect(fig.toJSON().frames).toHaveLength(4);
    expect(() => plot.lossSurface(loss, { w: [0, 1] })).toThrow(/exactly two parameters/);
  });

  it("decisionBoundary scores a grid with the classifier and leaks no tensors", () => {
    const before = tf.memory().numTensors;
    const X = tf.tensor2d([[-1, -1], [-2, 0], [1, 1], [2, 0.5]]);
    const Y = tf.tensor1d([0, 0, 1, 1], "int32");
    // p(class 1) = sigmoid(4 * (x + y)): the boundary is the line x + y = 0.
    const predict = (p: tf.Tensor2D) => tf.sigmoid(p.sum(1).mul(4));
    const fig = plot.decisionBoundary(predict, X, Y, { resolution: 21, classNames: ["neg", "pos"] });
    X.dispose();
    Y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const prob = fig.data[0];
    const gx = prob.x as number[], gy = prob.y as number[], z = prob.z as number[][];
    for (const [r, c] of [[0, 0], [20, 20], [3, 15], [10, 4]]) {
      expect(z[r][c]).toBeCloseTo(1 / (1 + Math.exp(-4 * (gx[c] + gy[r]))), 5);
    }
    expect(fig.data.slice(2).map((t) => [t.name, (t.x as number[]).length])).toEqual([["neg", 2], ["pos", 2]]);
    // Multi-class scores [n, k] become the arg-max class.
    const three = plot.decisionBoundary((p: tf.Tensor2D) => tf.concat([p.slice([0, 0], [-1, 1]), p.slice([0, 1], [-1, 1]), tf.zerosLike(p.slice([0, 0], [-1, 1]))], 1), [[-1, 2], [2, -1], [-1, -1]], [1, 0, 2], { resolution: 10 });
    const cls = three.data[0];
    const cx = cls.x as number[], cy = cls.y as number[], cz = cls.z as number[][];
    for (let r = 0; r < 10; r++) for (let c = 0; c < 10; c++) {
      const scores = [cx[c], cy[r], 0];
      expect(cz[r][c]).toBe(scores.indexOf(Math.max(...scores)));
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it("confusionMatrix annotates counts, true classes down and predicted across", () => {
    const fig = plot.confusionMatrix([[5, 1], [2, 7]], { labels: ["cat", "dog"], normalize: true });
    const t = fig.data[0];
    expect(t.text).toEqual([["5<br>83%", "1<br>17%"], ["2<br>22%", "7<br>78%"]]);
    expect(t.texttemplate).toBe("%{text}");
    expect((t.z as number[][])[0][0]).toBeCloseTo(5 / 6, 10);
    expect(fig.layout.yaxis).toMatchObject({ autorange: "reversed", title: { text: "true class" } });
    expect(fig.layout.xaxis).toMatchObject({ title: { text: "predicted class" } });
    expect(plot.confusionMatrix(tf.tensor2d([[1, 0], [0, 1]], [2, 2], "int32")).data[0].text).toEqual([["1", "0"], ["0", "1"]]);
    expect(() => plot.confusionMatrix([[1, 2]])).toThrow(/square/);
  });
});

describe("outside a kernel", () => {
  it("display() prints the one-line summary", () => {
    const writes: string[] = [];
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((s: any) => (writes.push(String(s)), true));
    try {
      display(plot.histogram([1, 2, 3], { title: "H" }));
    } finally {
      spy.mockRestore();
    }
    expect(writes.join("")).toBe('histogram "H": histogram (3 points)\n');
  });
});

describe("not embedding plotly.js (setLibraryMode / LEPTON_PLOTLY)", () => {
  const saved = process.env.LEPTON_PLOTLY;
  afterEach(() => {
    plot.setLibraryMode(undefined);
    if (saved === undefined) delete process.env.LEPTON_PLOTLY;
    else process.env.LEPTON_PLOTLY = saved;
  });

  /** The outputs of a notebook of a few chart cells run in one kernel session, as nbformat JSON. */
  function notebookOutputs(): { json: string; bundles: MimeBundle[] } {
    const { sink, messages } = recordingSink();
    setDisplaySink(sink);
    const cells = [
      () => plot.line([{ y: [3, 2, 1.5, 1.2], name: "train" }, { y: [3.2, 2.4, 2, 1.9], name: "val" }], { title: "Loss" }),
      () => plot.bar({ x: ["cat", "dog", "bird"], y: [5, 3, 4] }, { title: "Bar" }),
      () => plot.confusionMatrix([[50, 2, 3], [4, 40, 6], [1, 5, 44]], { labels: ["cat", "dog", "bird"] }),
      () => plot.histogram(Array.from({ length: 200 }, (_, i) => Math.sin(i)), { title: "Histogram" }),
    ];
    const outputs = cells.map((cell) => {
      const before = messages.length;
      const result = toMimeBundle(cell());
      return [
        ...messages.slice(before).map((m) => ({ output_type: "display_data", data: m.bundle, metadata: {} })),
        { output_type: "execute_result", execution_count: 1, data: result, metadata: {} },
      ];
    });
    setDisplaySink(undefined);
    return { json: JSON.stringify(outputs, null, 1), bundles: outputs.flat().map((o) => o.data) };
  }

  it("by default the outputs carry plotly.js once (≥ 4.5 MB); with LEPTON_PLOTLY=none or setLibraryMode(\"none\") they stay well under 100 kB", () => {
    delete process.env.LEPTON_PLOTLY;
    expect(plot.libraryMode()).toBe("embed");
    const embedded = notebookOutputs();
    expect(embedded.json.length).toBeGreaterThanOrEqual(4.5e6);
    expect(embedded.bundles.filter((b) => countLibrary(String(b["text/html"])) === 1)).toHaveLength(1);

    for (const choose of [() => (process.env.LEPTON_PLOTLY = "none"), () => plot.setLibraryMode("none")]) {
      resetLibrarySession();
      choose();
      expect(plot.libraryMode()).toBe("none");
      const small = notebookOutputs();
      expect(small.json.length).toBeLessThan(100_000);
      expect(small.bundles.map((b) => countLibrary(String(b["text/html"])))).toEqual([0, 0, 0, 0]);
      // Each chart keeps its Plotly JSON and text; its HTML says plotly.js was not embedded and how to get it.
      expect(small.bundles).toHaveLength(4);
      for (const b of small.bundles) {
        expect((b[plot.PLOTLY_MIME] as plot.FigureJSON).data.length).toBeGreaterThan(0);
        expect(String(b["text/plain"])).toMatch(/chart|matrix|histogram/);
        const html = String(b["text/html"]);
        expect(html).toContain("plotly.js was not embedded in this notebook");
        expect(html).toContain("lepton.plot.setLibraryMode(&quot;embed&quot;) (or unset LEPTON_PLOTLY) and re-run");
        expect(html).toContain("JupyterLab with the plotly extension, VS Code");
      }
      plot.setLibraryMode(undefined);
      delete process.env.LEPTON_PLOTLY;
    }
  });

  it("setLibraryMode wins over LEPTON_PLOTLY; back to \"embed\", the next chart sends the library; includeLibrary() always does", () => {
    process.env.LEPTON_PLOTLY = "none";
    plot.setLibraryMode("embed");
    expect(plot.libraryMode()).toBe("embed");
    plot.setLibraryMode(undefined);
    expect(plot.libraryMode()).toBe("none");
    process.env.LEPTON_PLOTLY = " EMBED ";
    expect(plot.libraryMode()).toBe("embed");

    const { sink, messages } = recordingSink();
    setDisplaySink(sink);
    plot.setLibraryMode("none");
    plot.line({ y: [1] }).show();
    plot.includeLibrary(); // asked for by name: sent even in "none"
    plot.setLibraryMode("embed");
    resetLibrarySession();
    plot.line({ y: [2] }).show();
    plot.line({ y: [3] }).show();
    expect(messages.map((m) => countLibrary(m.bundle["text/html"] as string))).toEqual([0, 1, 1, 0, 0]);
    // A standalone page always carries plotly.js: it is a file opened on its own.
    plot.setLibraryMode("none");
    expect(countLibrary(plot.line({ y: [1] }).toHTML())).toBe(1);
  });

  it("rejects a bad mode, by call and by environment, naming the valid ones", () => {
    expect(() => plot.setLibraryMode("cdn" as plot.LibraryMode)).toThrow(
      'lepton.plot: setLibraryMode\'s mode is "cdn"; valid values are "embed" and "none"',
    );
    process.env.LEPTON_PLOTLY = "off";
    expect(() => plot.libraryMode()).toThrow('lepton.plot: LEPTON_PLOTLY is "off"; valid values are "embed" and "none"');
    // Showing never throws into the user's code: display reports the message on stderr, and shows nothing.
    const { sink, messages } = recordingSink();
    setDisplaySink(sink);
    const errors: string[] = [];
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((s: any) => (errors.push(String(s)), true));
    try {
      plot.line({ y: [1] }).show();
    } finally {
      spy.mockRestore();
    }
    expect(errors.join("")).toContain('LEPTON_PLOTLY is "off"; valid values are "embed" and "none"');
    expect(messages).toHaveLength(0);
    // As a cell's value the kernel gets the error itself.
    expect(() => toMimeBundle(plot.line({ y: [1] }))).toThrow(/LEPTON_PLOTLY is "off"/);
  });

  it("the embedded chart's placeholder says how to trust the notebook and how to get charts without trust, in plain text", () => {
    const html = toMimeBundle(plot.line({ y: [1, 2] }, { title: "Loss" }))["text/html"] as string;
    const span = html.match(/<span class="lepton-plot-placeholder"[^>]*>([^<]*)<\/span>/)![1];
    expect(span).toContain('line chart &quot;Loss&quot;: scatter (2 points). Not drawn: this page ran no scripts. Trust the notebook');
    expect(span).toContain("jupyter trust file.ipynb");
    expect(span).toContain("&quot;Trust Notebook&quot; in JupyterLab's command palette");
    expect(span).toContain("lepton run and lepton course sign what they write");
    expect(span).toContain("re-run the cell");
    expect(span).toContain("JupyterLab with the plotly extension, VS Code");
    expect(span.length).toBeLessThan(400);
  });
});
