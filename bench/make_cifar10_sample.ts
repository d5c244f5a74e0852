/**
 * Makes the bundled CIFAR-10 sample (data/cifar10-sample/) from a CIFAR-10 binary archive:
 * the first 200 train and 50 test records of each class in file order (data_batch_1.bin onwards,
 * test_batch.bin), kept in that order, written in the official record layout.
 *
 *   npm run build && node dist/bench/make_cifar10_sample.js ../shared/datasets/cifar-10-binary.tar.gz
 */
import * as fs from "fs";
import * as path from "path";
import { readArchiveMembers } from "../src/data/archive";
import { md5File } from "../src/data/download";
import { packageRoot } from "../src/data/paths";

const RECORD = 3073;
const TRAIN_PER_CLASS = 200;
const TEST_PER_CLASS = 50;

function pick(files: Buffer[], perClass: number): Buffer {
  const counts = new Array(10).fill(0);
  const chosen: Buffer[] = [];
  for (const data of files) {
    for (let off = 0; off < data.length; off += RECORD) {
      const label = data[off];
      if (counts[label] < perClass) {
        counts[label]++;
        chosen.push(data.subarray(off, off + RECORD));
      }
    }
  }
  if (counts.some((c) => c !== perClass)) throw new Error(`not enough records per class: ${counts.join(", ")}`);
  return Buffer.concat(chosen);
}

async function main(): Promise<void> {
  const archive = process.argv[2];
  if (!archive) throw new Error("usage: node dist/bench/make_cifar10_sample.js <cifar-10-binary.tar.gz>");
  const members = await readArchiveMembers(archive, {
    want: (p) => (/(data_batch_[1-5]|test_batch)\.bin$/.test(p) ? 10_000 * RECORD : undefined),
  });
  const byName = (n: string) => [...members.entries()].find(([p]) => path.posix.basename(p) === n)![1];
  const train = pick([1, 2, 3, 4, 5].map((i) => byName(`data_batch_${i}.bin`)), TRAIN_PER_CLASS);
  const test = pick([byName("test_batch.bin")], TEST_PER_CLASS);
  const out = path.join(packageRoot(), "data", "cifar10-sample");
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, "data_batch_sample.bin"), train);
  fs.writeFileSync(path.join(out, "test_batch_sample.bin"), test);
  console.log(`source ${archive} md5 ${await md5File(archive)}`);
  for (const f of ["data_batch_sample.bin", "test_batch_sample.bin"]) {
    console.log(`${f}: ${fs.statSync(path.join(out, f)).size} bytes, md5 ${await md5File(path.join(out, f))}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
