/**
 * Multithreaded XNNPACK for TensorFlow.js's WebAssembly backend under Node.js.
 *
 * tfjs-backend-wasm ships a threaded SIMD build (emscripten pthreads), and emscripten's worker script
 * already knows how to run on Node's worker_threads, but tfjs turns it off in Node for two reasons:
 *  1. it hands emscripten the worker script and the module factory as Blob URLs, which Node's
 *     `Worker` cannot start and its `importScripts` shim cannot read; and
 *  2. the WASM_HAS_MULTITHREAD_SUPPORT flag answers false whenever it runs in Node.
 * Its C++ side also sizes the pool as (logical cores / 2), which is a single thread on a 2-vCPU machine.
 *
 * `prepareWasmThreads(n)` works around all three for the one backend start that follows: it writes the
 * two scripts to files (content-addressed, in the OS temp folder), points emscripten at them, and
 * reports 2n logical cores while the backend starts. `finishWasmThreads()` restores everything and
 * unreferences the worker threads so that they never keep a finished script alive. It is written for
 * the pinned tfjs-backend-wasm version and steps aside (single thread, with a reason) for any other.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";

/** The tfjs-backend-wasm version whose worker script and factory this adapter was written against. */
export const THREADED_WASM_VERSION = "4.22.0";
/** tfjs-backend-wasm creates this many workers up front; XNNPACK cannot use more threads. */
const MAX_THREADS = 8;

/** How the worker script loads the module factory; replaced by a load from a file. */
const FACTORY_LOAD =
  'if(typeof e.data.urlOrBlob=="string"){importScripts(e.data.urlOrBlob)}else{var objectUrl=URL.createObjectURL(e.data.urlOrBlob);importScripts(objectUrl);URL.revokeObjectURL(objectUrl)}';
const FACTORY_PREFIX = "var WasmBackendModuleThreadedSimd";

export interface WasmThreadsRequest {
  /** Threads asked for (from LEPTON_WASM_THREADS or the machine's parallelism). */
  requested: number;
  /** Set when threads will not be used, saying why. */
  reason?: string;
}

/** How many threads to ask for: LEPTON_WASM_THREADS, else the machine's parallelism (at most 8). */
export function requestedThreads(env: NodeJS.ProcessEnv = process.env): WasmThreadsRequest {
  const raw = env.LEPTON_WASM_THREADS;
  if (raw !== undefined && raw.trim() !== "") {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) {
      throw new Error(`LEPTON_WASM_THREADS=${raw} is not a whole number of threads; use 1 to ${MAX_THREADS} (1 turns threading off), or unset it.`);
    }
    if (n === 1) return { requested: 1, reason: "LEPTON_WASM_THREADS=1" };
    return { requested: Math.min(n, MAX_THREADS) };
  }
  const cores = typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
  const n = Math.min(Math.max(cores, 1), MAX_THREADS);
  return n > 1 ? { requested: n } : { requested: 1, reason: "one CPU core" };
}

/** Why the threaded build cannot be used here, or undefined when it can. */
export function threadsUnavailable(): string | undefined {
  if (typeof SharedArrayBuffer === "undefined") return "this Node.js has no SharedArrayBuffer";
  if (typeof Blob === "undefined" || typeof URL.createObjectURL !== "function") return "this Node.js has no Blob URLs (Node 18 or later is needed)";
  let version = "";
  try {
    version = require("@tensorflow/tfjs-backend-wasm/package.json").version;
  } catch {
    return "@tensorflow/tfjs-backend-wasm's package.json could not be read";
  }
  if (version !== THREADED_WASM_VERSION) return `lepton's threading adapter is written for tfjs-backend-wasm ${THREADED_WASM_VERSION}, found ${version}`;
  return undefined;
}

/** Write `text` to `dir/name` unless it is there: names carry a hash of their content, and a file only
 * ever appears whole (renamed into place), so an existing one is the same text. */
function writeOnce(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  if (fs.existsSync(file)) return file;
  // Another process may write the same file at the same moment: write aside, then rename (atomic).
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
  return file;
}

/** The worker script, made runnable from a file: the factory comes from `factoryFile`, and the names the
 * factory expects from the bundle around it (its requires, globals and paths) are provided. */
function workerScript(workerText: string, factoryFile: string): string {
  if (!workerText.includes(FACTORY_LOAD)) throw new Error("lepton: tfjs-backend-wasm's worker script is not the one the threading adapter expects");
  const bundle = require.resolve("@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.node.js");
  const prelude =
    `Object.assign(globalThis, { commonjsGlobal: globalThis, require$$0: require("fs"), require$$1: require("path"), ` +
    `require$$3: require("perf_hooks"), require$$4: require("os"), _scriptDir: ${JSON.stringify(bundle)}, ` +
    `__filename: ${JSON.stringify(bundle)}, __dirname: ${JSON.stringify(path.dirname(bundle))} });\n`;
  return prelude + workerText.replace(FACTORY_LOAD, `importScripts(${JSON.stringify(factoryFile)});`);
}

let restore: (() => void) | undefined;

/**
 * Arrange for the next `tf.setBackend("wasm")` to start the threaded build with `threads` threads.
 * Call `finishWasmThreads()` after it, whether it succeeded or not.
 */
export function prepareWasmThreads(threads: number): void {
  const wasm = require("@tensorflow/tfjs-backend-wasm") as typeof import("@tensorflow/tfjs-backend-wasm");
  const dir = path.join(os.tmpdir(), `lepton-wasm-threads-${THREADED_WASM_VERSION}-${process.getuid?.() ?? "user"}`);
  fs.mkdirSync(dir, { recursive: true });

  const RealBlob = globalThis.Blob;
  const realCreateObjectURL = URL.createObjectURL;
  const realCpus = os.cpus;
  const texts = new WeakMap<Blob, string>();
  let factoryText: string | undefined;
  class RecordingBlob extends RealBlob {
    constructor(parts?: BlobPart[], options?: BlobPropertyBag) {
      super(parts, options);
      if (parts && parts.every((p) => typeof p === "string")) {
        const text = (parts as string[]).join("");
        texts.set(this, text);
        if (text.startsWith(FACTORY_PREFIX)) factoryText = text;
      }
    }
  }
  globalThis.Blob = RecordingBlob as typeof Blob;
  URL.createObjectURL = (obj: Blob | MediaSource): string => {
    const text = texts.get(obj as Blob);
    if (text !== undefined && text.includes("nodeWorkerThreads") && factoryText !== undefined) {
      const hash = crypto.createHash("sha1").update(factoryText).update(text).digest("hex").slice(0, 12);
      const factoryFile = writeOnce(dir, `factory-${hash}.js`, factoryText);
      return writeOnce(dir, `worker-${hash}.js`, workerScript(text, factoryFile));
    }
    return realCreateObjectURL.call(URL, obj as Blob);
  };
  // The C++ side caps the pool at (logical cores / 2), counted once when the module starts.
  const cores = realCpus();
  // The module object itself (the bundle reads os.cpus through it), not TypeScript's read-only namespace copy.
  const mutableOs = require("os") as { cpus: typeof os.cpus };
  mutableOs.cpus = () => Array.from({ length: 2 * threads }, (_, i) => cores[i % cores.length]);
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
  wasm.setThreadsCount(threads);
  restore = () => {
    globalThis.Blob = RealBlob;
    URL.createObjectURL = realCreateObjectURL;
    mutableOs.cpus = realCpus;
  };
}

/** Undo `prepareWasmThreads`' patches; with the backend running, let its worker threads not hold the
 * process open, and return the number of threads XNNPACK uses (1 when the backend is not running). */
export function finishWasmThreads(): number {
  restore?.();
  restore = undefined;
  const backend = tf.findBackend("wasm") as unknown as { wasm?: { PThread?: { unusedWorkers: { unref?(): void }[]; runningWorkers: { unref?(): void }[] } } } | null;
  const pool = backend?.wasm?.PThread;
  if (!pool) return 1;
  for (const worker of [...pool.unusedWorkers, ...pool.runningWorkers]) worker.unref?.();
  const wasm = require("@tensorflow/tfjs-backend-wasm") as typeof import("@tensorflow/tfjs-backend-wasm");
  return wasm.getThreadsCount();
}
