/**
 * Backend choice: tfjs-node-gpu, then WebGPU on a hardware adapter (Dawn, the optional `webgpu`
 * package), then tfjs-node, then WebAssembly (SIMD, with lepton's training kernels), then pure JS.
 * `LEPTON_BACKEND` (tensorflow-gpu | webgpu | tensorflow | wasm | cpu) overrides; only then is a
 * software WebGPU adapter (SwiftShader) used.
 * `ready()` decides once; `backend()` says what runs and why the better ones did not.
 */
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { DISPLAY_SYMBOL, type MimeBundle } from "../display/display";
import { installWasmTrainingKernels } from "./wasm_kernels";
import { installMoreWasmKernels } from "./wasm_kernels_more";
import { installWasmBroadcastKernels } from "./wasm_broadcast";
import { installLazyFusedGradients } from "./fused_gradients";
import { adapterLabel, tryWebGPU, type AdapterSummary } from "./webgpu";
import { finishWasmThreads, prepareWasmThreads, requestedThreads, threadsUnavailable, wasmThreadsInfo } from "./wasm_threads";
import { nativeKernelsStatus, nativeThreads, relaxedSimdAvailable } from "./wasm_native";

export interface BackendInfo {
  /** The tfjs backend name in use ("tensorflow", "webgpu", "wasm", "cpu"). */
  name: string;
  /** What it is, in words ("WebAssembly (SIMD) with lepton's training kernels"). */
  description: string;
  /** Why each better backend was not used. */
  skipped: { name: string; reason: string }[];
  /** Set when LEPTON_BACKEND chose the backend. */
  forcedBy?: string;
  /** WebAssembly only: the threads XNNPACK runs on, and why not more when it is one. */
  threads?: { count: number; note?: string; limit?: string };
  /** The WebGPU adapter found (vendor, architecture, description), whether or not it was used. */
  adapter?: AdapterSummary;
}

const CANDIDATES = ["tensorflow-gpu", "webgpu", "tensorflow", "wasm", "cpu"] as const;
type Candidate = (typeof CANDIDATES)[number];

const DESCRIPTIONS: Record<Candidate, string> = {
  "tensorflow-gpu": "libtensorflow with CUDA (@tensorflow/tfjs-node-gpu)",
  webgpu: "WebGPU (Dawn, @tensorflow/tfjs-backend-webgpu)",
  tensorflow: "libtensorflow on the CPU (@tensorflow/tfjs-node)",
  wasm: "WebAssembly (XNNPACK) with lepton's training kernels",
  cpu: "pure JavaScript (slow: about 100x slower than WebAssembly for CNNs)",
};

/** Why a native package could not be loaded, in one line. */
function loadFailure(err: unknown, pkg: string): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === "MODULE_NOT_FOUND" && String(e.message).includes(pkg)) return `${pkg} is not installed`;
  const first = String(e?.message ?? err).split("\n")[0];
  return `${pkg} failed to load: ${first}`;
}

function tryNative(pkg: string): string | undefined {
  try {
    require(pkg);
    return undefined;
  } catch (err) {
    return loadFailure(err, pkg);
  }
}

let wasmThreads: { count: number; note?: string; limit?: string } | undefined;

/**
 * tfjs-backend-wasm's emscripten glue, when its module starts in Node.js, adds
 * `process.on("unhandledRejection", (r) => { throw r })` and an `uncaughtException` listener that
 * rethrows: from then on one promise rejection that nobody awaits (or one exception in a timer) aborts
 * the whole process, which for a notebook kernel loses every variable. A library must not decide that
 * for its host, so the listeners the glue added while starting are removed again (the process keeps
 * Node's own behaviour, or whatever handlers its host installed).
 */
export async function withoutGlueProcessHandlers<T>(start: () => Promise<T>): Promise<T> {
  const events = ["unhandledRejection", "uncaughtException"] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as any))]));
  try {
    return await start();
  } finally {
    for (const e of events) {
      for (const listener of process.listeners(e as any)) {
        if (!before.get(e)!.has(listener)) process.removeListener(e as any, listener as any);
      }
    }
  }
}

async function tryWasm(): Promise<string | undefined> {
  let wasm: typeof import("@tensorflow/tfjs-backend-wasm");
  try {
    wasm = require("@tensorflow/tfjs-backend-wasm") as typeof import("@tensorflow/tfjs-backend-wasm");
    const dir = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm"));
    wasm.setWasmPaths(dir + path.sep);
    installWasmTrainingKernels();
    installMoreWasmKernels();
    installWasmBroadcastKernels();
  } catch (err) {
    return loadFailure(err, "@tensorflow/tfjs-backend-wasm");
  }
  const plan = requestedThreads();
  nativeThreads(); // LEPTON_NATIVE_THREADS: a bad value stops here, not at the first convolution
  // Node 20 runs relaxed SIMD only behind a V8 flag: set it (if needed) before tfjs starts its threads.
  if (process.env.LEPTON_RELAXED_SIMD !== "0") relaxedSimdAvailable();
  let note = plan.requested > 1 ? threadsUnavailable() : plan.reason;
  if (!note) {
    let started = false;
    try {
      prepareWasmThreads(plan.requested);
      started = await withoutGlueProcessHandlers(() => tf.setBackend("wasm"));
    } catch {
      started = false;
    } finally {
      const count = finishWasmThreads();
      if (started) wasmThreads = wasmThreadsInfo(plan, count);
    }
    if (started) return undefined;
    note = "the threaded WebAssembly build did not start";
    wasm.setThreadsCount(1);
  }
  // The single-threaded build.
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
  wasmThreads = { count: 1, note, limit: plan.limit };
  try {
    if (!(await withoutGlueProcessHandlers(() => tf.setBackend("wasm")))) return "the WebAssembly backend failed to initialise";
    return undefined;
  } catch (err) {
    return loadFailure(err, "@tensorflow/tfjs-backend-wasm");
  }
}

/** TensorFlow.js's pure-JS backend prints a "Hi, looks like you are running TensorFlow.js in Node.js" notice
 * on first use; lepton shows one line of its own instead. */
function quietCpuNotice(): void {
  const cpu = tf.findBackend("cpu") as unknown as { firstUse?: boolean } | null;
  if (cpu && "firstUse" in cpu) cpu.firstUse = false;
}

/** What lepton says when tensors are computed before `ready()` chose a backend. */
export const CPU_BEFORE_READY_HINT =
  "lepton: TensorFlow.js is computing on its slow pure-JS backend because `await lepton.ready()` has not run yet. " +
  "Run it first (once, at the top of the notebook): it picks tfjs-node, WebGPU, WebAssembly with lepton's kernels, or pure JS, and says why.\n";

/**
 * Tensors made before `ready()` land on TensorFlow.js's pure-JS backend, which then prints its own
 * "install tfjs-node" notice. From the moment lepton is loaded, that first use prints one line saying
 * what to do instead (nothing once `ready()` has been called, whatever it chose).
 */
function hintCpuBeforeReady(): void {
  // On the class: TensorFlow.js makes a fresh pure-JS backend object when it picks one, and its
  // constructor's `this.firstUse = true` goes through this setter.
  const proto = (tf as unknown as { MathBackendCPU?: { prototype: object } }).MathBackendCPU?.prototype;
  if (!proto || Object.getOwnPropertyDescriptor(proto, "firstUse")) return;
  let said = false;
  Object.defineProperty(proto, "firstUse", {
    configurable: true,
    get: () => {
      if (!said && !pending) {
        said = true;
        process.stderr.write(CPU_BEFORE_READY_HINT);
      }
      return false;
    },
    set: () => {},
  });
}

let webgpuAdapterSeen: AdapterSummary | undefined;

async function activate(candidate: Candidate, forced: boolean): Promise<string | undefined> {
  switch (candidate) {
    case "webgpu": {
      const result = await tryWebGPU(forced);
      if (result.adapter) webgpuAdapterSeen = result.adapter;
      return result.failure;
    }
    case "tensorflow-gpu": {
      const failed = tryNative("@tensorflow/tfjs-node-gpu");
      if (failed) return failed;
      return (await tf.setBackend("tensorflow")) ? undefined : "libtensorflow (GPU) did not initialise";
    }
    case "tensorflow": {
      const failed = tryNative("@tensorflow/tfjs-node");
      if (failed) return failed;
      return (await tf.setBackend("tensorflow")) ? undefined : "libtensorflow did not initialise";
    }
    case "wasm":
      return tryWasm();
    case "cpu":
      return (await tf.setBackend("cpu")) ? undefined : "the pure-JS backend failed to initialise";
  }
}

function parseOverride(value: string | undefined): Candidate | undefined {
  if (!value) return undefined;
  const v = value.trim().toLowerCase();
  const alias: Record<string, Candidate> = { gpu: "tensorflow-gpu", "tensorflow-gpu": "tensorflow-gpu", webgpu: "webgpu", node: "tensorflow", tensorflow: "tensorflow", wasm: "wasm", cpu: "cpu", js: "cpu" };
  const found = alias[v];
  if (!found) throw new Error(`LEPTON_BACKEND=${value} is not a backend lepton knows; use one of tensorflow-gpu, webgpu, tensorflow, wasm, cpu (or unset it).`);
  return found;
}

let chosen: BackendInfo | undefined;
let pending: Promise<BackendInfo> | undefined;

async function choose(): Promise<BackendInfo> {
  const forced = parseOverride(process.env.LEPTON_BACKEND);
  requestedThreads(); // a bad LEPTON_WASM_THREADS is an error before anything starts
  const skipped: { name: string; reason: string }[] = [];
  const order = forced ? [forced, ...CANDIDATES.filter((c) => c !== forced && c === "cpu")] : [...CANDIDATES];
  for (const candidate of order) {
    const failure = await activate(candidate, forced === candidate);
    if (failure === undefined) {
      await tf.ready();
      quietCpuNotice();
      if (forced && candidate === forced) {
        for (const c of CANDIDATES) if (CANDIDATES.indexOf(c) < CANDIDATES.indexOf(candidate)) skipped.push({ name: c, reason: `not tried: LEPTON_BACKEND=${process.env.LEPTON_BACKEND}` });
      }
      const threads = candidate === "wasm" ? wasmThreads : undefined;
      const onAdapter = candidate === "webgpu" && webgpuAdapterSeen ? ` on ${adapterLabel(webgpuAdapterSeen)}` : "";
      return {
        name: tf.getBackend(),
        description: DESCRIPTIONS[candidate] + onAdapter + (candidate === "wasm" && nativeKernelsStatus(tf.backend() as never).instructions === "relaxed-simd" ? " (relaxed SIMD FMA)" : "") + (threads ? `, ${threads.count} thread${threads.count === 1 ? "" : "s"}${threads.note ? ` (${threads.note})` : ""}` : ""),
        ...(webgpuAdapterSeen ? { adapter: webgpuAdapterSeen } : {}),
        skipped,
        ...(forced ? { forcedBy: `LEPTON_BACKEND=${process.env.LEPTON_BACKEND}` } : {}),
        ...(threads ? { threads } : {}),
      };
    }
    skipped.push({ name: candidate, reason: failure });
  }
  throw new Error(`lepton: no TensorFlow.js backend could start:\n${skipped.map((s) => `  ${s.name}: ${s.reason}`).join("\n")}`);
}

hintCpuBeforeReady();

/** Choose and initialise the best available backend once; every lepton entry point awaits this. */
export function ready(): Promise<BackendInfo> {
  if (!pending) {
    installLazyFusedGradients();
    pending = choose().then((info) => {
      chosen = info;
      // `await lepton.ready()` as a cell's last value: the one backend line, not the object's fields.
      Object.defineProperty(info, DISPLAY_SYMBOL, { value: (): MimeBundle => ({ "text/plain": backendLine(info) }) });
      return info;
    });
  }
  return pending;
}

/** One line about the backend in use, e.g. "lepton: backend wasm — WebAssembly ... (tfjs-node: not installed)". */
export function backendLine(info: BackendInfo): string {
  const why = info.skipped.map((s) => `${s.name}: ${s.reason}`).join("; ");
  return `lepton backend: ${info.name} — ${info.description}${info.forcedBy ? ` (chosen by ${info.forcedBy})` : ""}${why ? `. Not used: ${why}` : ""}`;
}

/** What runs now and why the better backends did not, as a displayable value. Call after `await lepton.ready()`. */
export function backend(): BackendInfo & { toString(): string } {
  if (!chosen) {
    throw new Error("lepton.backend(): the backend is chosen on first use; run `await lepton.ready()` first.");
  }
  const info = chosen;
  return {
    ...info,
    toString: () => backendLine(info),
    [DISPLAY_SYMBOL]: (): MimeBundle => ({ "text/plain": backendLine(info) }),
  } as BackendInfo & { toString(): string };
}
