/**
 * LeNet on CIFAR-10, as in the PyTorch tutorial (../shared/bench/torch_lenet.py): 2 epochs, batch 64,
 * SGD lr 0.01 momentum 0.9, inputs normalised per channel with the training set's mean and std as
 * the PyTorch anchor does (--raw keeps them in [0, 1]). Prints test accuracy and the time per epoch.
 *
 *   npm run build && LEPTON_DATA_DIR=../shared/datasets node dist/bench/lenet_cifar.js \
 *       [--backend cpu|wasm] [--epochs 2] [--limit N (first N training images, for a quick try)] [--raw]
 */
import * as tf from "@tensorflow/tfjs";
import { ready } from "../src/backend";
import { cifar10 } from "../src/data/cifar10";
import { lenet } from "../src/models";
import { train, evaluate } from "../src/training";
import { arg } from "./args";


async function main(): Promise<void> {
  const info = await ready();
  const backend = arg("--backend");
  if (backend) {
    if (backend === "wasm") await import("@tensorflow/tfjs-backend-wasm");
    await tf.setBackend(backend);
    await tf.ready();
  }
  const epochs = Number(arg("--epochs") ?? 2);
  const limit = arg("--limit") ? Number(arg("--limit")) : undefined;
  const t0 = Date.now();
  const cifar = await cifar10({ download: false });
  const raw = process.argv.includes("--raw");
  const fit = limit ? cifar.train.take(limit) : cifar.train;
  const norm = raw ? undefined : fit.normalize();
  const trainSet = norm ?? fit;
  const testSet = norm ? cifar.test.normalize(norm.mean, norm.std) : cifar.test;
  console.log(`data: ${cifar.subset} (${cifar.source}), ${trainSet.size} train / ${cifar.test.size} test, loaded in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  console.log(`backend: ${tf.getBackend()} (ready() chose ${info.name})`);
  const model = lenet();
  const t1 = Date.now();
  const history = await train(model, trainSet, {
    epochs,
    batchSize: 64,
    optimizer: { type: "sgd", lr: 0.01, momentum: 0.9 },
    seed: 0,
  });
  const trainSeconds = (Date.now() - t1) / 1000;
  const t2 = Date.now();
  const report = await evaluate(model, testSet, { batchSize: 500, topLosses: 0 });
  const evalSeconds = (Date.now() - t2) / 1000;
  console.log(history.toString());
  console.log(
    `RESULT lenet cifar10 backend=${tf.getBackend()} epochs=${epochs} inputs=${raw ? "[0,1]" : "normalised"} train_images=${trainSet.size} ` +
      `test_accuracy=${(100 * report.accuracy).toFixed(2)}% test_loss=${report.loss.toFixed(4)} ` +
      `train_time=${trainSeconds.toFixed(1)}s (${(trainSeconds / epochs).toFixed(1)}s/epoch, ${((trainSet.size * epochs) / trainSeconds).toFixed(0)} images/s) eval_time=${evalSeconds.toFixed(1)}s`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
