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
  /** Threads asked for (from LEPTON_WASM_THREADS, the container's CPU limit or the machine's cores). */
  requested: number;
  /** Set when threads will not be used, saying why. */
  reason?: string;
  /**
   * What set the count, in words: "LEPTON_WASM_THREADS=3", "cgroup cpu.max quota 2.0 CPUs; 16 cores",
   * "CPU_LIMIT=2.0; 16 cores", "at most 8; 32 cores", or just "2 cores" (one thread per core).
   */
  limit: string;
  /** True when `limit` is only the core count (no variable, quota or cap was involved). */
  coresOnly?: boolean;
}

/** A CPU limit imposed on this process (a container's quota, JupyterHub's CPU_LIMIT), in CPUs. */
export interface CpuLimit {
  cpus: number;
  /** Where it comes from, e.g. "cgroup cpu.max quota 2.0 CPUs" or "CPU_LIMIT=2.0". */
  source: string;
}

export interface CpuLimitOptions {
  env?: NodeJS.ProcessEnv;
  /** The cgroup file system (default: $LEPTON_CGROUP_ROOT, else /sys/fs/cgroup). */
  cgroupRoot?: string;
  /** The file listing this process's cgroups (default: $LEPTON_PROC_SELF_CGROUP, else /proc/self/cgroup). */
  procSelfCgroup?: string;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

function formatCpus(cpus: number): string {
  const rounded = Math.round(cpus * 100) / 100;
  return Number.isInteger(rounded * 10) ? rounded.toFixed(1) : String(rounded);
}

/** `/a/b` -> [`/a/b`, `/a`, `/`]: a cgroup's quota is capped by every ancestor's. */
function selfAndAncestors(cgroupPath: string): string[] {
  const parts = cgroupPath.split("/").filter(Boolean);
  return parts.map((_, i) => "/" + parts.slice(0, parts.length - i).join("/")).concat("/");
}

/**
 * This process's cgroup path for the v2 hierarchy ("0::/path") or for the v1 hierarchy holding the
 * `cpu` controller ("4:cpu,cpuacct:/path"); "/" when the file is missing or says nothing (inside a
 * container with its own cgroup namespace, its cgroup is the root of what it sees).
 */
function ownCgroup(procText: string | undefined, version: 1 | 2): string {
  for (const line of (procText ?? "").split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (version === 2 ? m[1] === "0" && m[2] === "" : m[2].split(",").includes("cpu")) return m[3] || "/";
  }
  return "/";
}

/**
 * The smallest quota along a cgroup path: `quota(dir)` reads one folder's files. Folders that do not
 * exist are skipped (a container often sees its own cgroup mounted as the root of the file system).
 */
function smallestQuota(base: string, cgroupPath: string, quota: (dir: string) => number | undefined): number | undefined {
  let best: number | undefined;
  for (const p of selfAndAncestors(cgroupPath)) {
    const q = quota(path.join(base, p));
    if (q !== undefined && (best === undefined || q < best)) best = q;
  }
  return best;
}

/**
 * Every CPU limit found for this process: cgroup v2 `cpu.max` ("200000 100000" = 2 CPUs, "max ..." =
 * none), cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us` (-1 = none), each read for the process's
 * own cgroup (from /proc/self/cgroup) and its ancestors, and JupyterHub's `CPU_LIMIT` variable.
 */
export function cpuLimits(options: CpuLimitOptions = {}): CpuLimit[] {
  const env = options.env ?? process.env;
  const root = options.cgroupRoot ?? (env.LEPTON_CGROUP_ROOT || "/sys/fs/cgroup");
  const procText = readText(options.procSelfCgroup ?? (env.LEPTON_PROC_SELF_CGROUP || "/proc/self/cgroup"));
  const limits: CpuLimit[] = [];

  const v2 = smallestQuota(root, ownCgroup(procText, 2), (dir) => {
    const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(readText(path.join(dir, "cpu.max")) ?? "");
    return m && Number(m[2]) > 0 ? Number(m[1]) / Number(m[2]) : undefined;
  });
  if (v2 !== undefined) limits.push({ cpus: v2, source: `cgroup cpu.max quota ${formatCpus(v2)} CPUs` });

  const v1Path = ownCgroup(procText, 1);
  for (const mount of ["cpu", "cpu,cpuacct", "cpuacct,cpu"]) {
    const base = path.join(root, mount);
    if (!fs.existsSync(base)) continue;
    const v1 = smallestQuota(base, v1Path, (dir) => {
      const quota = Number((readText(path.join(dir, "cpu.cfs_quota_us")) ?? "").trim());
      const period = Number((readText(path.join(dir, "cpu.cfs_period_us")) ?? "").trim());
      return quota > 0 && period > 0 ? quota / period : undefined;
    });
    if (v1 !== undefined) limits.push({ cpus: v1, source: `cgroup cpu.cfs_quota_us quota ${formatCpus(v1)} CPUs` });
    break; // "cpu" is usually a link to "cpu,cpuacct": read one of them
  }

  const raw = env.CPU_LIMIT?.trim();
  if (raw) {
    const cpus = Number(raw);
    if (Number.isFinite(cpus) && cpus > 0) limits.push({ cpus, source: `CPU_LIMIT=${raw}` });
  }
  return limits;
}

/** The tightest CPU limit on this process (see cpuLimits), or undefined when there is none. */
export function containerCpuLimit(options: CpuLimitOptions = {}): CpuLimit | undefined {
  return cpuLimits(options).reduce<CpuLimit | undefined>((best, l) => (best === undefined || l.cpus < best.cpus ? l : best), undefined);
}

/**
 * How many threads to ask for: LEPTON_WASM_THREADS; else one per core (os.availableParallelism(),
 * which already follows the process's CPU affinity), lowered to a container's CPU quota or JupyterHub's
 * CPU_LIMIT when that is smaller (rounded down, at least 1); at most 8.
 */
export function requestedThreads(env: NodeJS.ProcessEnv = process.env, options: Omit<CpuLimitOptions, "env"> & { cores?: number } = {}): WasmThreadsRequest {
  const raw = env.LEPTON_WASM_THREADS;
  if (raw !== undefined && raw.trim() !== "") {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) {
      throw new Error(`LEPTON_WASM_THREADS=${raw} is not a whole number of threads; use 1 to ${MAX_THREADS} (1 turns threading off), or unset it.`);
    }
    if (n === 1) return { requested: 1, reason: "LEPTON_WASM_THREADS=1", limit: "LEPTON_WASM_THREADS=1" };
    return { requested: Math.min(n, MAX_THREADS), limit: n > MAX_THREADS ? `LEPTON_WASM_THREADS=${raw}, at most ${MAX_THREADS}` : `LEPTON_WASM_THREADS=${raw}` };
  }
  const cores = Math.max(options.cores ?? (typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length), 1);
  const coreText = `${cores} core${cores === 1 ? "" : "s"}`;
  let n = cores;
  let limit = coreText;
  let coresOnly = true;
  const cpu = containerCpuLimit({ ...options, env });
  if (cpu && Math.floor(cpu.cpus) < cores) {
    n = Math.max(1, Math.floor(cpu.cpus));
    limit = `${cpu.source}; ${coreText}`;
    coresOnly = false;
  }
  if (n > MAX_THREADS) {
    n = MAX_THREADS;
    limit = `at most ${MAX_THREADS}; ${limit}`;
    coresOnly = false;
  }
  if (n > 1) return { requested: n, limit, ...(coresOnly ? { coresOnly } : {}) };
  return { requested: 1, reason: coresOnly ? "one CPU core" : limit, limit, ...(coresOnly ? { coresOnly } : {}) };
}

/**
 * `backend().threads` for a plan and the count the backend reports: the count, `limit` (what set it,
 * see WasmThreadsRequest.limit) and a `note` shown in the backend line when it says more than the core
 * count (e.g. "2 threads (cgroup cpu.max quota 2.0 CPUs; 16 cores)") or when fewer threads started.
 */
export function wasmThreadsInfo(plan: WasmThreadsRequest, count: number): { count: number; note?: string; limit: string } {
  if (count < plan.requested) return { count, note: `asked for ${plan.requested} (${plan.limit})`, limit: plan.limit };
  return { count, ...(plan.coresOnly ? {} : { note: plan.limit }), limit: plan.limit };
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
