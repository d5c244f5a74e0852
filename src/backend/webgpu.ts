/**
 * The WebGPU backend: `@tensorflow/tfjs-backend-webgpu` on Dawn's Node.js binding (the npm package
 * `webgpu`, which ships prebuilt `dawn.node` binaries: Metal on macOS, D3D12 on Windows, Vulkan on
 * Linux). Both packages are optional dependencies: nothing here runs at module load, the ESM-only
 * `webgpu` package is loaded with a real dynamic `import()` inside `ready()`, and any failure becomes a
 * reason in `lepton.backend()` instead of an error.
 *
 * A software adapter (SwiftShader, llvmpipe, WARP, or any adapter that says it is a fallback adapter) is
 * slower than WebAssembly for training, so `ready()` never picks it on its own; `LEPTON_BACKEND=webgpu`
 * forces it (that is how CI tests this backend on SwiftShader).
 */
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";

/** What lepton reports about the adapter it found. */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for a CPU (software) implementation of WebGPU. */
  software: boolean;
  /** Why it counts as software, e.g. "architecture swiftshader". */
  softwareBecause?: string;
}

/** The parts of Dawn's `GPUAdapter` lepton uses (a fake in the selection tests). */
export interface AdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
  features?: { has(name: string): boolean };
  limits?: Record<string, number>;
  requestDevice?(descriptor?: unknown): Promise<unknown>;
}

/** The parts of the `webgpu` package lepton uses. */
export interface WebGPUModule {
  create(options: string[]): { requestAdapter(options?: unknown): Promise<AdapterLike | null> };
  globals: Record<string, unknown>;
}

/** Hooks for tests: where the `webgpu` package comes from, and how a found adapter becomes the tfjs backend. */
export interface WebGPUHooks {
  load?: () => Promise<WebGPUModule>;
  start?: (adapter: AdapterLike, gpu: unknown) => Promise<boolean>;
}
let hooks: WebGPUHooks = {};
/** Replace how the `webgpu` package is loaded or how its adapter starts (tests only). */
export function setWebGPUHooks(h: WebGPUHooks): void {
  hooks = h;
}

const SOFTWARE_NAMES = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|\bwarp\b|software/i;

/** Whether an adapter is a CPU implementation of WebGPU, and why. */
export function summarizeAdapter(adapter: AdapterLike): AdapterSummary {
  const info = adapter.info ?? {};
  const s = (v: unknown) => (typeof v === "string" ? v : "");
  const summary: AdapterSummary = { vendor: s(info.vendor), architecture: s(info.architecture), device: s(info.device), description: s(info.description), software: false };
  let because: string | undefined;
  if (info.isFallbackAdapter === true || adapter.isFallbackAdapter === true) because = "it is a fallback adapter";
  else if (/swiftshader/i.test(summary.architecture)) because = `architecture ${summary.architecture}`;
  else if (SOFTWARE_NAMES.test(summary.description) || SOFTWARE_NAMES.test(summary.device) || SOFTWARE_NAMES.test(summary.architecture)) {
    because = `a software renderer (${summary.description || summary.device || summary.architecture})`;
  } else if (/cpu/i.test(summary.architecture) || /\bcpu\b/i.test(summary.description)) because = "a CPU adapter";
  if (because) {
    summary.software = true;
    summary.softwareBecause = because;
  }
  return summary;
}

/** "google swiftshader (SwiftShader Device (Subzero))" */
export function adapterLabel(a: AdapterSummary): string {
  const name = [a.vendor, a.architecture].filter(Boolean).join(" ") || "unknown adapter";
  const desc = a.description || a.device;
  return `${name}${desc && desc !== name ? ` (${desc})` : ""}${a.software ? ", software" : ""}`;
}

/** The short name of a software adapter for the "not chosen" reason: "swiftshader". */
function softwareName(a: AdapterSummary): string {
  return a.architecture || a.description || a.vendor || "fallback adapter";
}

/** A real dynamic import, which TypeScript's CommonJS output would otherwise turn into require(). */
const importEsm = new Function("specifier", "return import(specifier)") as (specifier: string) => Promise<any>;

async function loadWebgpuPackage(): Promise<WebGPUModule> {
  const mod = await importEsm("webgpu");
  return (mod.create ? mod : mod.default) as WebGPUModule;
}

function failure(err: unknown, pkg: string): string {
  const e = err as NodeJS.ErrnoException;
  const message = String(e?.message ?? err);
  if ((e?.code === "ERR_MODULE_NOT_FOUND" || e?.code === "MODULE_NOT_FOUND") && message.includes(pkg)) return `${pkg} is not installed`;
  return `${pkg} failed to load: ${message.split("\n")[0]}`;
}

/** Make `navigator.gpu` (and the GPU* classes) exist, as tfjs-backend-webgpu expects from a browser. */
function installGlobals(mod: WebGPUModule, gpu: unknown): void {
  const g = globalThis as Record<string, unknown>;
  for (const [k, v] of Object.entries(mod.globals ?? {})) if (!(k in g)) g[k] = v;
  const nav = g.navigator as Record<string, unknown> | undefined;
  if (nav && typeof nav === "object") {
    try {
      Object.defineProperty(nav, "gpu", { value: gpu, configurable: true, writable: true });
      return;
    } catch {
      // fall through: replace navigator
    }
  }
  Object.defineProperty(globalThis, "navigator", { value: { ...(nav ?? {}), gpu }, configurable: true, writable: true });
}

/**
 * Start tfjs-backend-webgpu on this adapter: its own factory asks `navigator.gpu` again for an
 * adapter; lepton's asks for the device on the adapter it has already looked at, with the same
 * features and limits.
 */
async function startBackend(adapter: AdapterLike): Promise<boolean> {
  const webgpu = require("@tensorflow/tfjs-backend-webgpu") as typeof import("@tensorflow/tfjs-backend-webgpu");
  // The package registers its kernels on lepton's @tensorflow/tfjs-core (the one copy in node_modules).
  if (tf.getKernel("BatchMatMul", "webgpu") === undefined) {
    throw new Error("tfjs-backend-webgpu registered its kernels on another copy of @tensorflow/tfjs-core");
  }
  const factory = async () => {
    const required: string[] = [];
    if (adapter.features?.has("timestamp-query")) required.push("timestamp-query");
    const limits = adapter.limits ?? {};
    const names = ["maxComputeWorkgroupStorageSize", "maxComputeWorkgroupsPerDimension", "maxStorageBufferBindingSize", "maxBufferSize", "maxComputeWorkgroupSizeX", "maxComputeInvocationsPerWorkgroup"];
    const requiredLimits = Object.fromEntries(names.filter((n) => typeof limits[n] === "number").map((n) => [n, limits[n]]));
    const device = await adapter.requestDevice!({ requiredFeatures: required, requiredLimits });
    return new webgpu.WebGPUBackend(device as any, adapter.info as any);
  };
  installWebGPUFixes(webgpu.WebGPUBackend as unknown as { prototype: WebGPUBackendLike });
  if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
  tf.registerBackend("webgpu", factory, 3);
  return tf.setBackend("webgpu");
}

/** The parts of tfjs-backend-webgpu's backend object lepton's fixes use. */
interface WebGPUBackendLike {
  tensorMap: { get(dataId: object): { values: unknown; resource: unknown; dtype: string } | undefined };
  makeTensorInfo(shape: number[], dtype: string, values: unknown): tf.TensorInfo;
  readSync(dataId: object): unknown;
}

/**
 * Kernels whose inputs are still in CPU memory (a batch just made from a typed array, its reshapes)
 * run on the pure-JS backend, so that their small results can be read synchronously: Node.js has no
 * OffscreenCanvas, which is how tfjs-backend-webgpu implements `dataSync()`, and lepton's checks for
 * non-finite inputs (`isFinite(x).all()`, read with dataSync) must work on WebGPU as elsewhere.
 * Tensors already on the GPU take the WebGPU kernels as before.
 */
export const CPU_RESIDENT_KERNELS = ["IsFinite", "IsNan", "IsInf", "All", "Any", "Cast", "Equal", "NotEqual", "LogicalAnd", "LogicalOr", "LogicalNot", "Greater", "GreaterEqual", "Less", "LessEqual", "Sum", "Max", "Min"];

let fixesInstalled = false;
function installWebGPUFixes(cls: { prototype: WebGPUBackendLike }): void {
  if (fixesInstalled) return;
  fixesInstalled = true;
  const proto = cls.prototype;
  const readSync = proto.readSync;
  proto.readSync = function (this: WebGPUBackendLike, dataId: object) {
    const data = this.tensorMap.get(dataId);
    if (data && data.values == null && data.dtype !== "string" && typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas === "undefined") {
      throw new Error(
        "lepton: a tensor computed on the GPU cannot be read synchronously in Node.js (dataSync()/arraySync() on the WebGPU backend); use `await tensor.data()` / `await tensor.array()` instead (and pass lepton's functions that copy tensors, such as fromTensors, the typed array that gives).",
      );
    }
    return readSync.call(this, dataId);
  };
  for (const name of CPU_RESIDENT_KERNELS) {
    const original = tf.getKernel(name, "webgpu");
    const onCpu = tf.getKernel(name, "cpu");
    if (!original || !onCpu) continue;
    tf.unregisterKernel(name, "webgpu");
    tf.registerKernel({
      ...original,
      kernelFunc: (args) => {
        const backend = args.backend as unknown as WebGPUBackendLike;
        const inputs = Object.entries(args.inputs);
        const resident = inputs.every(([, t]) => {
          const d = t && backend.tensorMap.get(t.dataId);
          return d != null && d.values != null && d.resource == null && d.dtype !== "string" && d.dtype !== "complex64";
        });
        if (!resident || inputs.length === 0) return original.kernelFunc(args);
        const cpu = tf.findBackend("cpu") as unknown as tf.KernelBackend & { write(v: unknown, s: number[], d: string): object; disposeData(id: object): void };
        const made: object[] = [];
        const cpuInputs: Record<string, tf.TensorInfo> = {};
        for (const [k, t] of inputs) {
          const id = cpu.write(backend.tensorMap.get(t!.dataId)!.values, t!.shape, t!.dtype);
          made.push(id);
          cpuInputs[k] = { dataId: id, shape: t!.shape, dtype: t!.dtype };
        }
        try {
          const out = onCpu.kernelFunc({ inputs: cpuInputs, backend: cpu, attrs: args.attrs });
          const outs = Array.isArray(out) ? out : [out];
          const results = outs.map((o) => {
            const info = backend.makeTensorInfo(o.shape, o.dtype, cpu.readSync(o.dataId));
            cpu.disposeData(o.dataId);
            return info;
          });
          return Array.isArray(out) ? results : results[0];
        } finally {
          for (const id of made) cpu.disposeData(id);
        }
      },
    });
  }
}

/**
 * On Linux Dawn reaches the GPU through the Vulkan loader, libvulkan.so.1 (Debian/Ubuntu: libvulkan1).
 * Without it Dawn finds no adapter and prints a native warning on every start, so lepton looks first
 * (LD_LIBRARY_PATH, the linker's configured folders, the usual ones) and names what is missing.
 */
export function findVulkanLoader(): string | undefined {
  const dirs = (process.env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean);
  try {
    const confDir = "/etc/ld.so.conf.d";
    for (const f of fs.readdirSync(confDir)) {
      if (!f.endsWith(".conf")) continue;
      for (const line of fs.readFileSync(path.join(confDir, f), "utf8").split("\n")) if (line.startsWith("/")) dirs.push(line.trim());
    }
  } catch {
    // no ld.so.conf.d
  }
  dirs.push("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib", "/lib", "/usr/local/lib");
  for (const dir of dirs) {
    const candidate = path.join(dir, "libvulkan.so.1");
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

export interface WebGPUResult {
  /** Why it was not used; undefined when it is now the backend. */
  failure?: string;
  adapter?: AdapterSummary;
}

let found: AdapterSummary | undefined;
/** The adapter the WebGPU backend runs on, once it was chosen. */
export function webgpuAdapter(): AdapterSummary | undefined {
  return found;
}

/**
 * Try WebGPU: load `webgpu`, ask Dawn for a high-performance adapter, refuse a software one unless
 * `force`, then start tfjs-backend-webgpu on it.
 */
export async function tryWebGPU(force: boolean): Promise<WebGPUResult> {
  if (!hooks.load && process.platform === "linux" && !findVulkanLoader()) {
    return { failure: "no Vulkan loader (libvulkan.so.1): Dawn reaches the GPU through Vulkan on Linux (apt-get install libvulkan1 and the GPU's Vulkan driver, e.g. mesa-vulkan-drivers)" };
  }
  let mod: WebGPUModule;
  try {
    mod = await (hooks.load ?? loadWebgpuPackage)();
  } catch (err) {
    return { failure: failure(err, "webgpu") };
  }
  let gpu: ReturnType<WebGPUModule["create"]>;
  let adapter: AdapterLike | null;
  try {
    gpu = mod.create([]);
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch (err) {
    return { failure: `webgpu (Dawn) failed to start: ${String((err as Error)?.message ?? err).split("\n")[0]}` };
  }
  if (!adapter) {
    const hint = process.platform === "linux" ? " (on Linux Dawn needs a Vulkan driver and libvulkan.so.1)" : "";
    return { failure: `no WebGPU adapter: Dawn found no Metal, D3D12 or Vulkan device${hint}` };
  }
  const summary = summarizeAdapter(adapter);
  if (summary.software && !force) {
    return { adapter: summary, failure: `only a software adapter (${softwareName(summary)}) — not chosen; LEPTON_BACKEND=webgpu forces it` };
  }
  try {
    installGlobals(mod, gpu);
    const started = hooks.start ? await hooks.start(adapter, gpu) : await startBackend(adapter);
    if (!started) return { adapter: summary, failure: `tfjs-backend-webgpu did not initialise on ${adapterLabel(summary)}` };
  } catch (err) {
    return { adapter: summary, failure: failure(err, "@tensorflow/tfjs-backend-webgpu") };
  }
  found = summary;
  return { adapter: summary };
}
