/**
 * `lepton doctor`: what a workshop teacher runs on each laptop. Checks Node, Jupyter and the Lepton
 * kernel, which TensorFlow.js backend will run and why not the better ones (CUDA and cuDNN for
 * tfjs-node-gpu, the WebGPU adapter Dawn finds), why tfjs-node is absent and how to install it with one's own
 * libtensorflow 2.9.1, which datasets are found, and (unless --quick) the measured training GFLOP/s of the
 * engine (a 1.5 s conv-net probe) and a ten-second LeNet training probe.
 * Every problem comes with the command that fixes it.
 */
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import type * as tf from "@tensorflow/tfjs";

export type Status = "ok" | "warn" | "fail";

export interface Check {
  name: string;
  status: Status;
  detail: string;
  /** The command (or step) that fixes a problem. */
  fix?: string;
}

export interface DoctorReport {
  checks: Check[];
  probe?: { backend: string; samplesPerSecond: number; seconds: number };
  /** Measured training GFLOP/s of the engine in use (a ~1.5 s conv-net probe, FLOPs counted from the model). */
  speed?: import("../backend/perf").GflopsProbe & { simdPeakGflops: number; peakFormula: string; peakShare: number };
}

/** Why tfjs-node is missing today, and the one-line way round it (details in docs/performance.md). */
export const TFJS_NODE_ABSENT =
  "@tensorflow/tfjs-node and tfjs-node-gpu 4.22 download libtensorflow 2.9.1 from storage.googleapis.com when they install, " +
  "and that storage answers 403 since August 2026 (tensorflow/tfjs issue 8742), so `npm install` of them fails everywhere";
export const TFJS_NODE_FIX =
  "with a copy of libtensorflow-cpu-linux-x86_64-2.9.1.tar.gz (or -gpu-): serve it as tensorflow/libtensorflow/<file> over HTTP " +
  "(e.g. python3 -m http.server 8000) and run TFJS_NODE_CDN_STORAGE=http://127.0.0.1:8000/ npm install @tensorflow/tfjs-node@4.22.0 " +
  "(or @tensorflow/tfjs-node-gpu@4.22.0); or a scripts/custom-binary.json {\"tf-lib\": URL} in the package, then npm rebuild — see docs/performance.md. " +
  "lepton uses them first whenever they load";

const MIN_NODE_MAJOR = 18;

function checkNode(): Check {
  const major = Number(process.versions.node.split(".")[0]);
  return major >= MIN_NODE_MAJOR
    ? { name: "Node.js", status: "ok", detail: `v${process.versions.node}` }
    : { name: "Node.js", status: "fail", detail: `v${process.versions.node} is older than ${MIN_NODE_MAJOR}`, fix: "install Node.js 20 LTS from nodejs.org (or `nvm install 20`)" };
}

function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of process.platform === "win32" ? [".exe", ".cmd", ""] : [""]) {
      const candidate = path.join(dir, command + ext);
      if (fs.existsSync(candidate)) return candidate;
    }
  }
  return undefined;
}

function checkJupyter(): Check {
  const jupyter = findOnPath("jupyter");
  if (!jupyter) {
    return {
      name: "Jupyter",
      status: "warn",
      detail: "no `jupyter` on PATH: notebooks can still run headless with `lepton run`",
      fix: "pip install jupyterlab   (or on Debian/Ubuntu: apt-get install jupyter-notebook)",
    };
  }
  const version = spawnSync(jupyter, ["--version"], { encoding: "utf8", timeout: 20_000 });
  const line = (version.stdout ?? "").split("\n").find((l) => /lab|notebook/i.test(l) && !/not installed/.test(l))?.trim();
  return { name: "Jupyter", status: "ok", detail: `${jupyter}${line ? ` (${line})` : ""}` };
}

function checkKernel(): Check {
  const { listKernelSpecs, DEFAULT_KERNEL_NAME, kernelArgv } = require("../kernel/spec") as typeof import("../kernel/spec");
  const found = listKernelSpecs().find((k) => k.name === DEFAULT_KERNEL_NAME);
  if (!found) {
    return { name: "Lepton kernel", status: "fail", detail: "not installed in any folder Jupyter searches", fix: "npx lepton kernel install --user" };
  }
  const launcher = found.spec.argv?.[1];
  if (launcher && !fs.existsSync(launcher)) {
    return { name: "Lepton kernel", status: "fail", detail: `installed at ${found.dir}, but its launcher ${launcher} is missing`, fix: "npm run build && npx lepton kernel install --user" };
  }
  const current = kernelArgv()[1];
  const detail = `${found.dir}${launcher && launcher !== current ? ` (points at another copy of lepton: ${launcher})` : ""}`;
  return { name: "Lepton kernel", status: launcher && launcher !== current ? "warn" : "ok", detail, ...(launcher && launcher !== current ? { fix: "npx lepton kernel install --user   (to use this copy)" } : {}) };
}

/** Where the dynamic linker would find `lib` (ldconfig cache, then LD_LIBRARY_PATH). */
function findLibrary(lib: string): string | undefined {
  for (const dir of (process.env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean)) {
    if (fs.existsSync(path.join(dir, lib))) return path.join(dir, lib);
  }
  const ldconfig = spawnSync("ldconfig", ["-p"], { encoding: "utf8" });
  const hit = (ldconfig.stdout ?? "").split("\n").find((l) => l.trim().startsWith(lib));
  return hit ? hit.split("=>").pop()!.trim() : undefined;
}

function checkCuda(): Check {
  if (process.platform !== "linux") return { name: "CUDA for tfjs-node-gpu", status: "ok", detail: `not applicable on ${process.platform} (tfjs-node-gpu is Linux-only)` };
  const cudart = findLibrary("libcudart.so.11.0");
  const cudnn = findLibrary("libcudnn.so.8");
  if (cudart && cudnn) return { name: "CUDA for tfjs-node-gpu", status: "ok", detail: `CUDA 11 runtime ${cudart}, cuDNN 8 ${cudnn}` };
  const missing = [cudart ? "" : "libcudart.so.11.0 (CUDA 11.2)", cudnn ? "" : "libcudnn.so.8 (cuDNN 8.1)"].filter(Boolean).join(" and ");
  return {
    name: "CUDA for tfjs-node-gpu",
    status: "warn",
    detail: `${missing} not found: no GPU training (fine on a laptop without an NVIDIA GPU)`,
    fix: "with an NVIDIA GPU: install CUDA 11.2 and cuDNN 8.1, add their lib64 folders to LD_LIBRARY_PATH, then install @tensorflow/tfjs-node-gpu@4.22.0 from your own libtensorflow-gpu-linux-x86_64-2.9.1.tar.gz (Google's copy answers 403; see the tfjs-node line and docs/performance.md)",
  };
}

async function checkBackend(): Promise<Check[]> {
  const { ready, backendLine } = require("../backend") as typeof import("../backend");
  const info = await ready();
  const threads = checkWasmThreads(info);
  const webgpu = checkWebGPU(info);
  const hardwareGpu = info.name === "webgpu" && info.adapter !== undefined && !info.adapter.software;
  const status: Status = info.name === "tensorflow" || hardwareGpu ? "ok" : info.name === "wasm" || info.name === "webgpu" ? "warn" : "fail";
  const fix =
    info.name === "tensorflow" || hardwareGpu
      ? undefined
      : info.name === "webgpu"
      ? "WebGPU runs on a software adapter (on the CPU, slower than WebAssembly): unset LEPTON_BACKEND (or set LEPTON_BACKEND=wasm) unless you are testing"
      : "only with your own copy of libtensorflow 2.9.1: TFJS_NODE_CDN_STORAGE=http://127.0.0.1:8000/ npm install @tensorflow/tfjs-node@4.22.0 (see the tfjs-node line and docs/performance.md)" +
        (info.name === "cpu" ? "; the pure-JS backend is ~100x slower than WebAssembly: check that @tensorflow/tfjs-backend-wasm is installed (npm ci)" : "");
  return [{ name: "TensorFlow.js backend", status, detail: backendLine(info).replace(/^lepton backend: /, ""), ...(fix ? { fix } : {}) }, checkTfjsNode(info), webgpu, ...(threads ? [threads] : [])];
}

/** Whether tfjs-node / tfjs-node-gpu loaded, and if not, why they are absent and how to install them anyway. */
function checkTfjsNode(info: import("../backend").BackendInfo): Check {
  const name = "tfjs-node (libtensorflow)";
  if (info.name === "tensorflow") return { name, status: "ok", detail: "loaded: lepton trains on libtensorflow (it prefers tfjs-node-gpu, then tfjs-node, over WebGPU and WebAssembly)" };
  const reasons = info.skipped.filter((s) => s.name === "tensorflow" || s.name === "tensorflow-gpu").map((s) => `${s.name === "tensorflow" ? "tfjs-node" : "tfjs-node-gpu"}: ${s.reason}`);
  const notInstalled = info.skipped.some((s) => (s.name === "tensorflow" || s.name === "tensorflow-gpu") && /is not installed/.test(s.reason));
  const detail = `${reasons.join("; ") || "not tried"}${notInstalled ? `. Why: ${TFJS_NODE_ABSENT}` : ""}; lepton prefers them over WebAssembly whenever they load`;
  return { name, status: "ok", detail, fix: TFJS_NODE_FIX };
}

/** The WebGPU adapter Dawn found (vendor, architecture, description), and why it is or is not used. */
function checkWebGPU(info: import("../backend").BackendInfo): Check {
  const { adapterLabel } = require("../backend/webgpu") as typeof import("../backend/webgpu");
  const name = "WebGPU adapter";
  const skipped = info.skipped.find((s) => s.name === "webgpu");
  const adapter = info.adapter ? adapterLabel(info.adapter) : undefined;
  if (info.name === "webgpu") {
    return info.adapter?.software
      ? { name, status: "warn", detail: `${adapter}: in use because ${info.forcedBy ?? "it was forced"} (${info.adapter.softwareBecause})`, fix: "a software adapter is for tests only; unset LEPTON_BACKEND to train on WebAssembly" }
      : { name, status: "ok", detail: `${adapter ?? "adapter"}: in use (GPU training)` };
  }
  const reason = skipped?.reason ?? "not tried (a better backend was chosen first)";
  const detail = adapter ? `${adapter}: ${reason}` : reason;
  const notInstalled = /is not installed/.test(reason);
  return {
    name,
    // A hardware adapter that failed to start is worth a note; no GPU (or only a software one) is fine.
    status: adapter && !info.adapter?.software ? "warn" : "ok",
    detail,
    ...(notInstalled ? { fix: "npm install webgpu @tensorflow/tfjs-backend-webgpu   (optional dependencies; prebuilt, no download)" } : {}),
  };
}

/**
 * How many threads XNNPACK runs on, and what set that number: LEPTON_WASM_THREADS, a container's CPU
 * quota (cgroup cpu.max / cpu.cfs_quota_us), JupyterHub's CPU_LIMIT, the cap of 8, or the core count.
 */
function checkWasmThreads(info: import("../backend").BackendInfo): Check | undefined {
  if (info.name !== "wasm" || !info.threads) return undefined;
  const { requestedThreads } = require("../backend/wasm_threads") as typeof import("../backend/wasm_threads");
  const plan = requestedThreads();
  const count = info.threads.count;
  const plural = (n: number) => `${n} thread${n === 1 ? "" : "s"}`;
  const name = "WebAssembly threads";
  if (count < plan.requested) {
    return {
      name,
      status: "warn",
      detail: `${plural(count)}, asked for ${plan.requested} (${plan.limit})${info.threads.note ? `: ${info.threads.note}` : ""}`,
      fix: "training runs single-threaded; LEPTON_WASM_THREADS=1 makes that explicit and silences this note",
    };
  }
  return { name, status: "ok", detail: `${plural(count)} (${plan.limit})` };
}

function checkDatasets(): Check {
  const { searchDirs, defaultCacheDir, bundledDataDir } = require("../data/paths") as typeof import("../data/paths");
  const found: string[] = [];
  for (const dir of searchDirs(undefined, defaultCacheDir())) {
    for (const entry of ["cifar-10-batches-bin", "cifar-10-binary.tar.gz"]) {
      if (fs.existsSync(path.join(dir, entry))) found.push(path.join(dir, entry));
    }
  }
  const sample = fs.existsSync(path.join(bundledDataDir(), "cifar10-sample"));
  if (found.length > 0) return { name: "CIFAR-10", status: "ok", detail: `full set at ${found[0]}${sample ? "; bundled sample present" : ""}` };
  return {
    name: "CIFAR-10",
    status: "warn",
    detail: `full set not found (looked in ${searchDirs(undefined, defaultCacheDir()).join(", ")}); ${sample ? "the bundled 2,000/500 sample will be used" : "the bundled sample is missing too"}`,
    fix: `put cifar-10-binary.tar.gz (cs.toronto.edu/~kriz) in the cache ${defaultCacheDir()} (LEPTON_CACHE_DIR moves it; see lepton cache info) or set LEPTON_DATA_DIR to its folder; with internet, lepton.data.cifar10({ download: true }) fetches it`,
  };
}

/** Train LeNet on random CIFAR-shaped data for about `seconds` with lepton's own engine and report samples/s. */
async function probe(seconds: number): Promise<DoctorReport["probe"]> {
  const tfjs = require("@tensorflow/tfjs") as typeof tf;
  const { lenet } = require("../models") as typeof import("../models");
  const { train } = require("../training") as typeof import("../training");
  const { fromTensors } = require("../data") as typeof import("../data");
  const n = 64 * 16;
  const x = new Uint8Array(n * 32 * 32 * 3).map((_, i) => (i * 2654435761) >>> 24);
  const y = Int32Array.from({ length: n }, (_, i) => i % 10);
  const data = fromTensors(x, y, { inputShape: [32, 32, 3], classes: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"] });
  const model = lenet({ seed: 0 });
  let start = 0;
  let samples = 0;
  // The first batch is a warm-up (kernel set-up); the clock starts after it.
  const clock = {
    batchLogs: "every" as const,
    onBatchEnd(_b: number, logs: { size: number }, ctx: { stop(reason: string): void }) {
      if (start === 0) {
        start = Date.now();
        return;
      }
      samples += logs.size;
      if ((Date.now() - start) / 1000 >= seconds) ctx.stop("probe done");
    },
  };
  await train(model, data, { epochs: 1000, batchSize: 64, optimizer: { type: "sgd", lr: 0.01, momentum: 0.9 }, verbose: 0, seed: 0, callbacks: [clock] });
  const elapsed = (Date.now() - start) / 1000;
  model.dispose();
  return { backend: tfjs.getBackend(), samplesPerSecond: Math.round(samples / Math.max(elapsed, 1e-3)), seconds: Number(elapsed.toFixed(1)) };
}

/** The measured training GFLOP/s of the engine in use, against the machine's WebAssembly SIMD peak. */
async function speed(seconds: number): Promise<NonNullable<DoctorReport["speed"]>> {
  const { measureTrainingGflops, simdPeak } = require("../backend/perf") as typeof import("../backend/perf");
  const measured = await measureTrainingGflops(seconds);
  const peak = simdPeak();
  return { ...measured, simdPeakGflops: Number(peak.gflops.toFixed(1)), peakFormula: peak.formula, peakShare: Number((measured.gflops / peak.gflops).toFixed(3)) };
}

export async function runDoctor(options: { quick?: boolean; probeSeconds?: number; speedSeconds?: number } = {}): Promise<DoctorReport> {
  const checks: Check[] = [checkNode(), checkJupyter(), checkKernel(), ...(await checkBackend()), checkCuda(), checkDatasets()];
  const report: DoctorReport = { checks };
  if (!options.quick) {
    report.speed = await speed(options.speedSeconds ?? 1.5);
    report.probe = await probe(options.probeSeconds ?? 10);
  }
  return report;
}

const MARK: Record<Status, string> = { ok: "ok  ", warn: "note", fail: "FAIL" };

export async function doctorCommand(argv: string[]): Promise<number> {
  if (argv.includes("-h") || argv.includes("--help")) {
    console.log("usage: lepton doctor [--quick] [--json]\n  --quick  skip the training measurements (1.5 s GFLOP/s probe, ten-second LeNet probe)\n  --json   print the report as JSON");
    return 0;
  }
  const unknown = argv.filter((a) => !["--quick", "--json"].includes(a));
  if (unknown.length) {
    console.error(`lepton doctor: unknown option ${unknown[0]} (use --quick, --json)`);
    return 2;
  }
  const report = await runDoctor({ quick: argv.includes("--quick") });
  if (argv.includes("--json")) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    for (const c of report.checks) {
      console.log(`${MARK[c.status]}  ${c.name}: ${c.detail}`);
      if (c.fix && c.status !== "ok") console.log(`      fix: ${c.fix}`);
    }
    if (report.speed) {
      const sp = report.speed;
      console.log(`ok    training speed: ${sp.gflops} GFLOP/s on ${sp.backend} (${sp.model}, batch ${sp.batch}, ${sp.samplesPerSecond} samples/s x ${(sp.flopsPerSample / 1e6).toFixed(1)} MFLOP per sample, ${sp.steps} steps in ${sp.seconds} s; ` +
        `FLOPs = 3 x forward conv/dense MACs x 2); WebAssembly SIMD peak ${sp.peakFormula}: ${(sp.peakShare * 100).toFixed(1)}%`);
    }
    if (report.probe) console.log(`ok    training probe: LeNet, batch 64, ${report.probe.backend}: ${report.probe.samplesPerSecond} samples/s over ${report.probe.seconds} s`);
  }
  return report.checks.some((c) => c.status === "fail") ? 1 : 0;
}
