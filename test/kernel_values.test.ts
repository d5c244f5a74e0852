/**
 * Rich values through the real Lepton kernel (zeromq, lepton's own client): a tensor, a dataset and
 * `await lepton.ready()` as a cell's last value arrive as execute_result bundles with their own
 * text/plain and text/html, not util.inspect dumps of their fields.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, realpathSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { PNG } from "pngjs";
import { readRecords } from "../src/display/record";
import { KernelClient, type Execution } from "../src/kernel/client";
import { ensureBuilt } from "./kernel_helpers";

const folder = realpathSync(mkdtempSync(join(tmpdir(), "lepton-kernel-values-")));
let kernel: KernelClient;

beforeAll(async () => {
  ensureBuilt();
  kernel = await KernelClient.start({ cwd: folder });
});

afterAll(async () => {
  await kernel?.shutdown();
});

function result(exec: Execution): Record<string, unknown> {
  expect(exec.reply.content.status).toBe("ok");
  const out = exec.outputs.find((o: any) => o.output_type === "execute_result") as { data: Record<string, unknown> } | undefined;
  expect(out, JSON.stringify(exec.outputs)).toBeDefined();
  return out!.data;
}

describe("rich values as a cell's result in the Lepton kernel", () => {
  it("`await lepton.ready()` is the one backend line", async () => {
    const data = result(await kernel.execute(`import * as lepton from "lepton";\nawait lepton.ready()`));
    expect(Object.keys(data)).toEqual(["text/plain"]);
    expect(data["text/plain"]).toMatch(/^lepton backend: \S+ — [^\n]+$/);
  });

  it("a tf.Tensor shows shape, dtype and values, with an HTML table", async () => {
    const data = result(await kernel.execute(`import * as tf from "@tensorflow/tfjs";\ntf.tensor2d([[1,2],[3,4]])`));
    expect(data["text/plain"]).toBe("Tensor(shape=[2, 2], dtype=float32)\n[[1, 2],\n [3, 4]]");
    const html = String(data["text/html"]);
    expect([...html.matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((m) => m[1])).toEqual(["1", "2", "3", "4"]);
    expect(html).not.toMatch(/dataId|isDisposedInternal/);
  });

  it("a dataset shows its summary and labelled thumbnails of its first images", async () => {
    const code = [
      `const px = new Uint8Array(3 * 4 * 4 * 3).map((_, i) => (i * 5) % 256);`,
      `lepton.data.fromTensors(px, new Int32Array([0, 1, 0]), { inputShape: [4, 4, 3], classes: ["ant", "bee"], name: "bugs" })`,
    ].join("\n");
    const data = result(await kernel.execute(code));
    expect(data["text/plain"]).toBe("bugs\n  samples:     3\n  input shape: [4, 4, 3]\n  2 classes:   ant (2), bee (1)");
    const html = String(data["text/html"]);
    const images = [...html.matchAll(/src="data:image\/png;base64,([^"]+)"/g)].map((m) => PNG.sync.read(Buffer.from(m[1], "base64")));
    expect(images.map((p) => [p.width, p.height])).toEqual([[4, 4], [4, 4], [4, 4]]);
    // sample 2, first pixel: values (96 + c) * 5 % 256 for c = 0, 1, 2
    expect(Array.from(images[2].data.subarray(0, 4))).toEqual([(96 * 5) % 256, (97 * 5) % 256, (98 * 5) % 256, 255]);
    expect([...html.matchAll(/<br><span[^>]*>([^<]*)<\/span>/g)].map((m) => m[1])).toEqual(["ant", "bee", "ant"]);
  });

  it("a display handle or a record as the last value adds no Out (as IPython's display())", async () => {
    const exec = await kernel.execute(`lepton.display("shown", { displayId: "abcdef0123456789" })`);
    expect(exec.reply.content.status).toBe("ok");
    expect(exec.outputs.map((o) => o.output_type)).toEqual(["display_data"]);
    const rec = await kernel.execute(`lepton.record("acc", 0.5)`);
    expect(rec.outputs.map((o: any) => o.output_type)).toEqual(["display_data"]);
    expect((rec.outputs[0] as any).data["text/plain"]).toBe("acc = 0.5000");
  });

  it("a record is text for every frontend, its value in the output's metadata, read back from the notebook", async () => {
    const rec = await kernel.execute(`lepton.record("acc", 0.25); lepton.record("model", "lenet")`);
    expect(rec.outputs.map((o: any) => Object.keys(o.data))).toEqual([["text/plain"], ["text/plain"]]);
    expect(rec.outputs.map((o: any) => o.metadata)).toEqual([{ "lepton.record": { acc: 0.25 } }, { "lepton.record": { model: "lenet" } }]);
    // The cell as nbformat saves it, and a notebook written by lepton 0.1 (records under a mime type of their own).
    const saved = { cells: [{ outputs: rec.outputs.map(({ transient, ...o }: any) => o) }] };
    const old = { cells: [{ outputs: [{ output_type: "display_data", metadata: {}, data: { "application/vnd.lepton.record+json": { acc: 0.5, epochs: 3 }, "text/plain": "acc = 0.5000" } }] }] };
    expect(readRecords(saved)).toEqual({ acc: 0.25, model: "lenet" });
    expect(readRecords(old)).toEqual({ acc: 0.5, epochs: 3 });
    expect(readRecords({ cells: [...old.cells, ...saved.cells] })).toEqual({ acc: 0.25, epochs: 3, model: "lenet" });
  });
});
