/**
 * Kernel latency: the Lepton kernel against plain tslab on the same machine, through the same client.
 *
 *   npm run build && node dist/bench/kernel_bench.js [--starts 3] [--trivial 20] [--json out.json]
 *
 * Measures, starting the two kernels alternately (each in a fresh temp folder outside the repository;
 * plain tslab imports lepton by absolute path because it cannot resolve the bare name `lepton`):
 *   start → first result   spawn to the reply of the first `1 + 1` (median over --starts starts)
 *   trivial round trip     median of --trivial executions of `1 + 1` (reply and idle status received)
 *   import lepton          the first `import * as lepton from "lepton"` cell (median over starts)
 */
import { mkdtempSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { KernelClient } from "../src/kernel/client";
import { kernelArgv, packageRoot } from "../src/kernel/spec";
import { arg } from "./args";

interface KernelTimes {
  startToFirstResultMs: number;
  trivialRoundTripMs: number;
  importLeptonMs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}


interface Samples {
  firsts: number[];
  imports: number[];
  trips: number[];
}

/** One start of one kernel: start → first result, the import cell, and (when asked) trivial round trips. */
async function sample(label: string, argv: string[], importCell: string, trivial: number, into: Samples): Promise<void> {
  const cwd = mkdtempSync(join(tmpdir(), "lepton-bench-"));
  const t0 = performance.now();
  const kernel = await KernelClient.start({ argv, cwd });
  try {
    const first = await kernel.execute("1 + 1");
    into.firsts.push(performance.now() - t0);
    if (first.reply.content.status !== "ok") throw new Error(`${label}: 1 + 1 failed: ${JSON.stringify(first.reply.content)}`);
    const t1 = performance.now();
    const imp = await kernel.execute(importCell);
    into.imports.push(performance.now() - t1);
    if (imp.reply.content.status !== "ok") throw new Error(`${label}: import failed: ${JSON.stringify(imp.outputs)}`);
    for (let i = 0; i < trivial; i++) {
      const t = performance.now();
      await kernel.execute("1 + 1");
      into.trips.push(performance.now() - t);
    }
  } finally {
    await kernel.shutdown();
  }
}

function summary(label: string, s: Samples): KernelTimes {
  const times = { startToFirstResultMs: median(s.firsts), trivialRoundTripMs: median(s.trips), importLeptonMs: median(s.imports) };
  const list = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(", ");
  console.log(`${label.padEnd(7)} start→first result ${times.startToFirstResultMs.toFixed(0)} ms [${list(s.firsts)}], ` +
    `trivial round trip ${times.trivialRoundTripMs.toFixed(1)} ms (median of ${s.trips.length}), ` +
    `import lepton ${times.importLeptonMs.toFixed(0)} ms [${list(s.imports)}]`);
  return times;
}

async function main(): Promise<void> {
  const starts = Number(arg("--starts") ?? 3);
  const trivial = Number(arg("--trivial") ?? 20);
  const root = packageRoot();
  const index = join(root, "dist", "src", "index").replace(/\\/g, "/");
  const tslabArgv = [process.execPath, join(root, "node_modules", "tslab", "bin", "tslab"), "kernel", "--config-path", "{connection_file}"];
  const samples = { lepton: { firsts: [], imports: [], trips: [] } as Samples, tslab: { firsts: [], imports: [], trips: [] } as Samples };
  // Alternate the two kernels so that load from other processes hits both alike.
  for (let s = 0; s < starts; s++) {
    await sample("lepton", kernelArgv(root), `import * as lepton from "lepton";`, s === 0 ? trivial : 0, samples.lepton);
    await sample("tslab", tslabArgv, `import * as lepton from ${JSON.stringify(index)};`, s === 0 ? trivial : 0, samples.tslab);
  }
  const lepton = summary("lepton", samples.lepton);
  const tslab = summary("tslab", samples.tslab);
  const ratio = (k: keyof KernelTimes) => lepton[k] / tslab[k];
  console.log(`ratios lepton/tslab: start→first result ${ratio("startToFirstResultMs").toFixed(2)}, ` +
    `trivial round trip ${ratio("trivialRoundTripMs").toFixed(2)}, import lepton ${ratio("importLeptonMs").toFixed(2)}`);
  const out = process.argv.indexOf("--json");
  if (out >= 0) writeFileSync(process.argv[out + 1], JSON.stringify({ node: process.version, lepton, tslab }, null, 2));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
