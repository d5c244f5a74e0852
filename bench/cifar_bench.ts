/**
 * `npm run bench:cifar`: time to accuracy on the full CIFAR-10 (issue 15, item 4). Trains
 * lepton.models.airbench (whitened first layer, three conv groups) with crop + flip augmentation,
 * label smoothing, SGD with Nesterov momentum on a one-cycle schedule and an exponential moving average
 * of the weights, then evaluates on the official 10,000 test images with flip test-time augmentation.
 * Prints the accuracy and wall time after each epoch and, last, one JSON line. Time to accuracy is
 * `total_seconds`: from the start (loading, channel statistics, whitening, training, the final TTA
 * evaluation) less the per-epoch test evaluations, which are there only to show progress.
 *
 *   LEPTON_DATA_DIR=../shared/datasets npm run bench:cifar -- [--epochs 12] [--widths 32,64,128]
 *       [--batch 256] [--lr 0.2] [--limit N (first N training images, for a quick try)] [--no-ema]
 *       [--tta flip|flip-translate|none] [--no-tta]
 *
 * The data set is found as everywhere in lepton (dir, LEPTON_DATA_DIR, the cache; no download here);
 * without the full set the bench stops and says where to put it.
 */
import * as tf from "@tensorflow/tfjs";
import { ready } from "../src/backend";
import { cifar10 } from "../src/data/cifar10";
import { airbench, whiten } from "../src/models";
import { train, evaluate, callbacks } from "../src/training";
import type { Callback } from "../src/training";
import { TTAS, type TTA } from "../src/training/evaluate";
import { arg } from "./args";


async function main(): Promise<void> {
  const started = Date.now();
  const info = await ready();
  const epochs = Number(arg("--epochs") ?? 12);
  const widths = (arg("--widths") ?? "32,64,128").split(",").map(Number) as [number, number, number];
  const batchSize = Number(arg("--batch") ?? 256);
  const lr = Number(arg("--lr") ?? 0.2);
  const limit = arg("--limit") ? Number(arg("--limit")) : undefined;
  const useEma = !process.argv.includes("--no-ema");
  const tta = (process.argv.includes("--no-tta") ? "none" : arg("--tta") ?? "flip") as TTA;
  // Checked here, not by evaluate() at the end of a half-hour run.
  if (!TTAS.includes(tta)) throw new Error(`--tta must be one of ${TTAS.join(", ")}; got ${tta}.`);
  const cifar = await cifar10({ download: false, subset: "full" });
  const setupStart = Date.now();
  const base = limit ? cifar.train.shuffled(0).take(limit) : cifar.train;
  const { mean, std } = base.channelStats();
  const plain = base.normalize(mean, std);
  const trainSet = base.augment({ crop: { padding: 4 }, flip: true }).normalize(mean, std);
  const testSet = cifar.test.normalize(mean, std);
  console.log(`data: ${cifar.source}; ${base.size} train / ${testSet.size} test images, loaded in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  console.log(`backend: ${info.name}${info.threads ? ` (${info.threads.count} threads)` : ""}`);

  const model = airbench({ widths, seed: 0 });
  const sample = await plain.shuffled(1).take(Math.min(5000, base.size)).toTensors();
  whiten(model, sample.x as tf.Tensor4D);
  tf.dispose([sample.x, sample.y]);
  console.log(`model: airbench widths ${widths.join("/")}, ${model.countParams().toLocaleString("en-US")} parameters`);

  const setupSeconds = (Date.now() - setupStart) / 1000;
  const perEpoch: { epoch: number; seconds: number; wall_s: number; test_accuracy: number }[] = [];
  const trainStart = Date.now();
  let epochStart = trainStart;
  // Per-epoch test accuracy of the live weights (the EMA goes in at the end); its time is not training time.
  let evalSeconds = 0;
  const report: Callback = {
    onEpochBegin: () => void (epochStart = Date.now()),
    async onEpochEnd(epoch) {
      const seconds = (Date.now() - epochStart) / 1000;
      const t = Date.now();
      const r = await evaluate(model, testSet, { batchSize: 500, topLosses: 0 });
      evalSeconds += (Date.now() - t) / 1000;
      const wall = (Date.now() - trainStart) / 1000 - evalSeconds;
      perEpoch.push({ epoch, seconds, wall_s: wall, test_accuracy: r.accuracy });
      console.log(`epoch ${epoch}/${epochs}: ${seconds.toFixed(0)} s, test accuracy ${(100 * r.accuracy).toFixed(2)}% (live weights, no TTA), training wall time ${(wall / 60).toFixed(1)} min`);
    },
  };
  const ema = callbacks.weightAverage({ decay: 0.98, every: 5 });
  await train(model, trainSet, {
    epochs, batchSize, optimizer: { type: "sgd", momentum: 0.9, nesterov: true }, lr, weightDecay: 5e-4,
    schedule: { type: "onecycle", maxLr: lr, pctStart: 0.25 }, labelSmoothing: 0.2, seed: 0, verbose: 0,
    callbacks: [report, ...(useEma ? [ema] : [])],
  });
  const trainSeconds = (Date.now() - trainStart) / 1000 - evalSeconds;
  const t = Date.now();
  const final = await evaluate(model, testSet, { batchSize: 500, topLosses: 0, tta });
  const finalEval = (Date.now() - t) / 1000;
  const total = (Date.now() - started) / 1000 - evalSeconds;
  console.log(`final: test accuracy ${(100 * final.accuracy).toFixed(2)}% (${useEma ? "weight average" : "last weights"}, TTA ${tta}) after ${(trainSeconds / 60).toFixed(1)} min of training; ` +
    `whole run ${(total / 60).toFixed(1)} min without the per-epoch evaluations`);
  console.log(JSON.stringify({
    bench: "cifar10", model: `airbench_${widths.join("_")}`, params: model.countParams(), backend: info.name,
    epochs, batch_size: batchSize, lr, ema: useEma, tta, train_images: base.size, test_images: testSet.size,
    test_accuracy: final.accuracy, setup_seconds: Math.round(setupSeconds), train_seconds: Math.round(trainSeconds), total_seconds: Math.round(total), final_eval_seconds: Math.round(finalEval),
    per_epoch: perEpoch.map((e) => ({ ...e, seconds: Math.round(e.seconds), wall_s: Math.round(e.wall_s) })),
  }));
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
