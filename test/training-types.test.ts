/**
 * Notebook cells are type-checked by tslab's TypeScript 5.0.4: the training API must accept the
 * natural calls (Keras / fastai style) under that compiler and reject a misspelt option.
 */
import { describe, expect, it } from "vitest";
import { join } from "path";
import { writeFileSync, mkdtempSync } from "fs";
import { tmpdir } from "os";

const ts = require("@tslab/typescript-for-tslab") as typeof import("typescript");

function diagnostics(file: string): string[] {
  const program = ts.createProgram([file], {
    strict: true, target: ts.ScriptTarget.ES2020, module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10, esModuleInterop: true, skipLibCheck: true, noEmit: true,
    lib: ["lib.es2022.d.ts", "lib.dom.d.ts"],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file ? `${d.file.fileName.split("/").pop()}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : "";
    return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
  });
}

const LEPTON = JSON.stringify(join(__dirname, "..", "src", "index").replace(/\\/g, "/"));
const TFJS = JSON.stringify(join(__dirname, "..", "node_modules", "@tensorflow", "tfjs").replace(/\\/g, "/"));

describe("training API types under tslab's TypeScript", () => {
  it("accepts the notebook calls", () => {
    const dir = mkdtempSync(join(tmpdir(), "lepton-train-types-"));
    const file = join(dir, "cells.ts");
    writeFileSync(file, `
import * as lepton from ${LEPTON};
import * as tf from ${TFJS};
async function cells() {
  const { train: trainSet, test } = await lepton.data.cifar10();
  const model = lepton.models.lenet();
  lepton.summary(model);
  const finder = await lepton.lrFind(model, trainSet);
  const lr: number = finder.suggested;
  const h = await lepton.train(model, trainSet, { epochs: 2, batchSize: 64, optimizer: { type: "sgd", lr: 0.01, momentum: 0.9 }, validationData: test });
  h.plot();
  const loss: number | undefined = h.last("val_loss");
  await lepton.fitOneCycle(lepton.models.resnet9({ width: 16 }), trainSet, { epochs: 5, maxLr: lr, weightDecay: 5e-4, labelSmoothing: 0.1 });
  await lepton.train(model, trainSet, {
    epochs: 10, schedule: { type: "cosine", warmupEpochs: 1 }, optimizer: "adamw", validationSplit: 0.1,
    callbacks: [lepton.callbacks.earlyStopping({ patience: 3, restoreBest: true }), lepton.callbacks.checkpoint({ dir: "ckpt", keepBest: true }),
                lepton.callbacks.reduceOnPlateau(), { onEpochEnd: (epoch, logs) => console.log(epoch, logs.loss) }],
  });
  await lepton.train(model, trainSet, { epochs: 12, resumeFrom: "ckpt" });
  const report = await lepton.evaluate(model, test);
  report.mostConfused(3); report.confusionPlot(); report.topLossesPlot(9);
  const f1: number = report.perClass[0].f1;
  await lepton.save("model-dir", model);
  const { model: m2, optimizer, epoch } = await lepton.load("model-dir");
  const opt = lepton.optimizer({ type: "adam", lr: 1e-3 });
  await lepton.train(lepton.models.mlp([2, 16, 3]), { x: tf.zeros([4, 2]), y: tf.zeros([4], "int32") }, { optimizer: opt });
  lepton.models.neuron({ inputs: 2, activation: "sigmoid" });
  return [lr, loss, f1, m2, optimizer, epoch];
}
cells;
`);
    expect(diagnostics(file)).toEqual([]);
  });

  it("rejects a misspelt option", () => {
    const dir = mkdtempSync(join(tmpdir(), "lepton-train-types-"));
    const file = join(dir, "bad.ts");
    writeFileSync(file, [
      `import * as lepton from ${LEPTON};`,
      `lepton.train(lepton.models.lenet(), null as any, { epoch: 2 });`,
      `lepton.train(lepton.models.lenet(), null as any, { optimizer: { type: "rmsprop" } });`,
    ].join("\n"));
    const errors = diagnostics(file);
    expect(errors.map((e) => e.split(" ")[0]), errors.join("\n")).toEqual(["bad.ts:2", "bad.ts:3"]);
  });
});
