/**
 * lepton's own WebAssembly SIMD128 kernels (native/lepton_kernels.c, built by native/build.sh) for
 * TensorFlow.js's wasm backend, run directly on the backend's heap: the module imports tfjs's memory
 * (the shared one of the threaded build, or the plain one), so tensors are read and written where they
 * lie, with no copies.
 *
 *   Sum / Mean over every axis but the last (batch-norm statistics and gradients): one SIMD pass.
 *   Add / Sub / Multiply / RealDiv of a tensor [..., C] with a per-channel vector ([C] or [1, ..., 1, C]),
 *     either operand order: one SIMD pass, no repeated vector.
 *   Conv2DBackpropFilter (NHWC, dilation 1, any stride and padding): a direct SIMD loop, one output row
 *     at a time, instead of two transposes and a convolution with a whole feature map as its filter.
 *   Conv2D (and, with LEPTON_NATIVE_CONV=1, FusedConv2D without bias or activation): a direct SIMD loop
 *     (4 pixels x 8 output channels per register tile). lepton's Conv2DBackpropInput is a Conv2D of the
 *     output gradient, so it runs here.
 *
 * The per-channel passes run on the calling thread: XNNPACK spreads these memory-bound passes over its
 * thread pool, and each call pays a dispatch and, on a busy machine, a wait for the slowest thread;
 * ResNet-9 makes ~150 of them per step. The two convolutions are compute-bound and, on the threaded build
 * (shared memory), run on as many threads as XNNPACK's pool (LEPTON_NATIVE_THREADS=n to choose, 1 for
 * one): see wasm_native_pool.ts. Anything else (other dtypes, shapes, reductions) goes to the previous kernel.
 *
 * Falls back by itself: when the module does not validate or instantiate (no SIMD128, no shared memory),
 * or with LEPTON_NATIVE_KERNELS=0 (read on every call, so a benchmark can compare both in one process).
 * Checked against the pure-JS backend in test/backend_native_kernels.test.ts.
 */
import * as tf from "@tensorflow/tfjs";
import { Scope, wrapWasmKernel, type Backend, type KernelFn, type TensorInfo } from "./wasm_kernels";
import { PLAIN_RELAXED_WASM_BASE64, PLAIN_WASM_BASE64, SHARED_RELAXED_WASM_BASE64, SHARED_WASM_BASE64 } from "./wasm_native_binary";
import { KIND_FILTER, KIND_FORWARD, KIND_MATMUL, KIND_SPLIT, SPLIT_OPS, runNativeChunk, startNativePool, type NativePool } from "./wasm_native_pool";

export interface NativeExports {
  channel_sum(x: number, rows: number, c: number, out: number, tmp: number, scale: number): void;
  channel_binary(op: number, big: number, vec: number, rows: number, c: number, out: number, vecFirst: number): void;
  /** Output rows g0 <= g < g1 of the batch's n * oh rows (g = image * oh + row); zeros: cin zero floats, read for taps in the padding. */
  conv2d_forward(x: number, w: number, y: number, g0: number, g1: number, h: number, wd: number, cin: number, oh: number, ow: number, cout: number, fh: number, fw: number, sh: number, sw: number, pt: number, pl: number, zeros: number): void;
  /** The weight gradient summed over output rows g0 <= g < g1 (dw overwritten). */
  conv2d_backprop_filter(x: number, dy: number, dw: number, g0: number, g1: number, h: number, w: number, cin: number, oh: number, ow: number, cout: number, fh: number, fw: number, sh: number, sw: number, pt: number, pl: number): void;
  add_into(dst: number, src: number, count: number): void;
  channel_affine(x: number, rows: number, c: number, mean: number, k: number, offset: number, out: number): void;
  channel_sq_dev_sum(x: number, mean: number, rows: number, c: number, out: number, tmp: number): void;
  bn_backward_sums(dy: number, x: number, mean: number, rows: number, c: number, sdy: number, sdyx: number, tmp: number): void;
  bn_backward_dx(dy: number, x: number, p: number, rows: number, c: number, out: number): void;
  max_pool_grad_tiled(x: number, g: number, dx: number, n: number, h: number, w: number, c: number, fh: number, fw: number): void;
  max_pool_tiled(x: number, out: number, n: number, h: number, w: number, c: number, fh: number, fw: number): void;
  relu(x: number, out: number, count: number): void;
  relu_grad(dy: number, x: number, out: number, count: number): void;
  /** Rows m0 <= i < m1 of c = a b, a [m][k], b [k][n], row-major. */
  matmul_rows(a: number, b: number, c: number, m0: number, m1: number, k: number, n: number): void;
}

type Build = "plain" | "shared" | "plain_relaxed" | "shared_relaxed";
const BINARIES: Record<Build, string> = { plain: PLAIN_WASM_BASE64, shared: SHARED_WASM_BASE64, plain_relaxed: PLAIN_RELAXED_WASM_BASE64, shared_relaxed: SHARED_RELAXED_WASM_BASE64 };
const modules: Record<Build, WeakMap<WebAssembly.Memory, NativeExports | null>> = { plain: new WeakMap(), shared: new WeakMap(), plain_relaxed: new WeakMap(), shared_relaxed: new WeakMap() };
let compiled: Partial<Record<Build, WebAssembly.Module | null>> = {};
let lastFailure: string | undefined;
let relaxedHere: boolean | undefined;

/**
 * Whether this engine runs relaxed SIMD (the fused multiply-add builds): on by default from Node 22; Node
 * 20's V8 has it behind --experimental-wasm-relaxed-simd, which is turned on here when the plain check
 * fails (it only adds instructions; nothing already compiled changes).
 */
export function relaxedSimdAvailable(): boolean {
  if (relaxedHere !== undefined) return relaxedHere;
  const bytes = Buffer.from(PLAIN_RELAXED_WASM_BASE64, "base64");
  let ok = false;
  try {
    ok = WebAssembly.validate(bytes);
    if (!ok && /^v20\./.test(process.version)) {
      (require("v8") as typeof import("v8")).setFlagsFromString("--experimental-wasm-relaxed-simd");
      ok = WebAssembly.validate(bytes);
    }
  } catch {
    ok = false;
  }
  relaxedHere = ok;
  return ok;
}

/**
 * The build of the module for a memory, shared or not: with fused multiply-adds where relaxed SIMD runs,
 * unless LEPTON_RELAXED_SIMD=0 (read when a heap gets its module) or `relaxed` is false.
 */
function buildFor(shared: boolean, relaxed: boolean = process.env.LEPTON_RELAXED_SIMD !== "0" && relaxedSimdAvailable()): Build {
  return `${shared ? "shared" : "plain"}${relaxed ? "_relaxed" : ""}` as Build;
}

function compile(kind: Build): WebAssembly.Module | null {
  if (compiled[kind] !== undefined) return compiled[kind]!;
  const bytes = Buffer.from(BINARIES[kind], "base64");
  let mod: WebAssembly.Module | null = null;
  try {
    if (!WebAssembly.validate(bytes)) throw new Error(`this engine does not validate lepton's ${kind} SIMD module`);
    mod = new WebAssembly.Module(bytes);
  } catch (err) {
    lastFailure = String((err as Error).message ?? err);
    mod = null;
  }
  compiled = { ...compiled, [kind]: mod };
  return mod;
}

/** The backend's wasm memory (emscripten's Module.wasmMemory in the threaded build, asm.memory otherwise). */
function heapMemory(backend: Backend): WebAssembly.Memory | undefined {
  const wasm = (backend as unknown as { wasm?: { wasmMemory?: WebAssembly.Memory; asm?: { memory?: WebAssembly.Memory } } }).wasm;
  const memory = wasm?.wasmMemory ?? wasm?.asm?.memory;
  return memory instanceof WebAssembly.Memory ? memory : undefined;
}

/** lepton's kernels bound to this backend's heap, or null when they cannot run here (then the callers fall back). */
export function nativeKernels(backend: Backend, options: { ignoreSwitch?: boolean } = {}): NativeExports | null {
  if (process.env.LEPTON_NATIVE_KERNELS === "0" && !options.ignoreSwitch) return null;
  const memory = heapMemory(backend);
  if (!memory) return null;
  return kernelsFor(memory);
}

/** Which build runs on each backend heap (the first asked for: the pool's helpers run the same one). */
const chosen = new WeakMap<WebAssembly.Memory, Build>();

const isShared = (memory: WebAssembly.Memory) => typeof SharedArrayBuffer !== "undefined" && memory.buffer instanceof SharedArrayBuffer;

/**
 * lepton's kernels instantiated on `memory` (the shared-memory build when it is shared; with fused
 * multiply-adds unless `relaxed` is false or relaxed SIMD does not run here), or null when they cannot run.
 */
export function kernelsFor(memory: WebAssembly.Memory, relaxed?: boolean): NativeExports | null {
  const build = relaxed === undefined ? chosen.get(memory) ?? buildFor(isShared(memory)) : buildFor(isShared(memory), relaxed && relaxedSimdAvailable());
  if (relaxed === undefined && !chosen.has(memory)) chosen.set(memory, build);
  const known = modules[build].get(memory);
  if (known !== undefined) return known;
  const mod = compile(build);
  let exports: NativeExports | null = null;
  if (mod) {
    try {
      exports = new WebAssembly.Instance(mod, { env: { memory } }).exports as unknown as NativeExports;
    } catch (err) {
      lastFailure = String((err as Error).message ?? err);
    }
  }
  modules[build].set(memory, exports);
  if (!exports && relaxed === undefined && build.endsWith("_relaxed")) {
    // The fused build did not compile or instantiate here: the SIMD128 one, for this heap from now on.
    const plain = buildFor(isShared(memory), false);
    chosen.set(memory, plain);
    return kernelsFor(memory, false);
  }
  return exports;
}

const pools = new WeakMap<WebAssembly.Memory, NativePool | null>();

/** Threads for lepton's convolutions: LEPTON_NATIVE_THREADS, else XNNPACK's pool size. Throws, saying what
 * to set, when the variable is not a count (the backend checks it when it starts). */
export function nativeThreads(): number {
  const raw = process.env.LEPTON_NATIVE_THREADS;
  if (raw !== undefined && raw.trim() !== "") {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`LEPTON_NATIVE_THREADS=${raw} is not a whole number of threads; use 1 to 8 (1: lepton's kernels on one thread), or unset it.`);
    return Math.min(n, 8);
  }
  try {
    return (require("@tensorflow/tfjs-backend-wasm") as typeof import("@tensorflow/tfjs-backend-wasm")).getThreadsCount();
  } catch {
    return 1;
  }
}

/**
 * The helper threads for this backend's heap (started on first use), or null: one thread asked for
 * (LEPTON_NATIVE_THREADS=1, read on every call), a plain (unshared) heap, or helpers that cannot start.
 */
export function nativePool(backend: Backend): NativePool | null {
  if (process.env.LEPTON_NATIVE_THREADS?.trim() === "1") return null;
  const memory = heapMemory(backend);
  if (!memory || !isShared(memory)) return null;
  const known = pools.get(memory);
  if (known !== undefined) return known;
  const threads = nativeThreads();
  let pool: NativePool | null = null;
  const build = kernelsFor(memory) ? chosen.get(memory) : undefined;
  const mod = build ? compile(build) : null;
  if (mod) {
    try {
      pool = startNativePool(memory, mod, threads);
    } catch (err) {
      lastFailure = String((err as Error).message ?? err);
    }
  }
  pools.set(memory, pool);
  return pool;
}

/** Floats a memory-bound pass must touch before it is worth the helper threads (2 MiB). */
const SPLIT_FLOATS = 1 << 19;

/**
 * Run a memory-bound pass (SPLIT_OPS) over `units` (elements, rows or images), cut into ranges for the
 * helper threads when it touches at least SPLIT_FLOATS floats, on this thread otherwise. Each unit is
 * computed by one thread with the same code: the result does not depend on the split.
 */
export function runSplitPass(backend: Backend, native: NativeExports, units: number, floats: number, params: number[]): void {
  const pool = units > 1 && floats >= SPLIT_FLOATS ? nativePool(backend) : null;
  if (pool) pool.run(native, KIND_SPLIT, Math.min(2 * pool.threads, units), params);
  else runNativeChunk(native, KIND_SPLIT, 0, 1, params);
}

/** The shape arguments of a convolution's parameter list (everything after the three pointers and the row count). */
type ShapeArgs = [number, number, number, number, number, number, number, number, number, number, number, number];
const shapeArgs = (params: number[]) => params.slice(4, 16) as ShapeArgs;

/** A large weight gradient is summed as this many partials, on however many threads (see below). */
const FILTER_PARTS = 4;

/** Below this many multiply-adds a convolution runs on the calling thread: waking a helper costs more. */
const PARALLEL_MACS = 1 << 20;

/** Whether lepton's SIMD kernels run on this backend, and if not, why. */
export function nativeKernelsStatus(backend: Backend): { active: boolean; reason?: string; instructions?: "relaxed-simd" | "simd128" } {
  if (process.env.LEPTON_NATIVE_KERNELS === "0") return { active: false, reason: "LEPTON_NATIVE_KERNELS=0" };
  const k = nativeKernels(backend);
  const memory = heapMemory(backend);
  if (!k || !memory) return { active: false, reason: lastFailure ?? "the backend's wasm memory was not found" };
  return { active: true, instructions: chosen.get(memory)?.endsWith("_relaxed") ? "relaxed-simd" : "simd128" };
}

/** Byte offset of a tensor's data on the heap. */
export function pointer(backend: Backend, t: TensorInfo): number {
  return backend.typedArrayFromHeap(t).byteOffset;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Sum or Mean over all axes but the last, natively; everything else to `previous`. */
function nativeChannelReduction(kind: "Sum" | "Mean") {
  return (previous: KernelFn): KernelFn =>
    (args) => {
      const { x } = args.inputs;
      const rank = x.shape.length;
      const raw = args.attrs?.axis;
      const axes = (Array.isArray(raw) ? raw : raw === undefined || raw === null ? [] : [raw]).map((a: number) => (a < 0 ? a + rank : a)).sort((a: number, b: number) => a - b);
      const leading = rank >= 2 && axes.length === rank - 1 && axes.every((a: number, i: number) => a === i);
      const rows = size(x.shape.slice(0, -1));
      if (!leading || x.dtype !== "float32" || rows === 0) return previous(args);
      const native = nativeKernels(args.backend);
      if (!native) return previous(args);
      const backend = args.backend;
      const c = x.shape[rank - 1];
      const shape = args.attrs?.keepDims ? x.shape.map((d, i) => (i === rank - 1 ? d : 1)) : [c];
      const out = backend.makeOutput(shape, "float32");
      if (c === 0) return out;
      const scale = kind === "Mean" ? 1 / rows : 1;
      const g = rowGroup(c);
      const main = rows - (rows % g);
      if (g === 1 || main === 0) {
        const tmp = backend.makeOutput([c], "float32");
        try {
          native.channel_sum(pointer(backend, x), rows, c, pointer(backend, out), pointer(backend, tmp), scale);
        } finally {
          backend.disposeData(tmp.dataId);
        }
        return out;
      }
      // Rows of c * g floats (whole vectors), then the g partial sums of each channel added, then the
      // last rows % g rows on their own.
      const scratch = backend.makeOutput([3 * c * g], "float32");
      try {
        const at = pointer(backend, scratch), wide = c * g;
        native.channel_sum(pointer(backend, x), main / g, wide, at, at + 4 * wide, scale);
        const sums = backend.typedArrayFromHeap(scratch) as Float32Array;
        const o = backend.typedArrayFromHeap(out) as Float32Array;
        for (let ch = 0; ch < c; ch++) {
          let total = 0;
          for (let k = 0; k < g; k++) total += sums[k * c + ch];
          o[ch] = total;
        }
        if (main < rows) {
          native.channel_sum(pointer(backend, x) + 4 * main * c, rows - main, c, at + 8 * wide, at + 4 * wide, scale);
          for (let ch = 0; ch < c; ch++) o[ch] += sums[2 * wide + ch];
        }
      } finally {
        backend.disposeData(scratch.dataId);
      }
      return out;
    };
}

const OPS: Record<string, number> = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3 };

/**
 * How many rows of c floats the per-channel passes take as one row: 1 when c is whole float32x4 vectors,
 * else enough rows for a multiple of 4 floats and at least 32 (LeNet's 6 channels: 6 rows of 36). One
 * 6-float row was a vector, two scalars and a loop turn: 0.35-0.4 ms for a 64x28x28x6 sum or bias add.
 */
function rowGroup(c: number): number {
  if (c % 4 === 0) return 1;
  const base = c % 2 === 0 ? 2 : 4;
  return base * Math.ceil(32 / (c * base));
}

/** True when `shape` is [C] or [1, ..., 1, C]. */
function isChannelVector(shape: number[]): boolean {
  return shape.length >= 1 && shape.slice(0, -1).every((d) => d === 1);
}

/** big [..., C] op per-channel vector (either order), natively; everything else to `previous`. */
function nativeChannelBinary(name: string) {
  return (previous: KernelFn): KernelFn =>
    (args) => {
      const { a, b } = args.inputs;
      if (!a || !b || a.dtype !== "float32" || b.dtype !== "float32") return previous(args);
      if (tf.util.arraysEqual(a.shape, b.shape)) {
        // Same shapes (a residual add, an optimizer's update): one row of every element.
        const native = nativeKernels(args.backend);
        if (!native) return previous(args);
        const out = args.backend.makeOutput([...a.shape], "float32");
        const n = size(a.shape);
        if (n > 0) native.channel_binary(OPS[name], pointer(args.backend, a), pointer(args.backend, b), 1, n, pointer(args.backend, out), 0);
        return out;
      }
      // The vector is the operand of smaller size (or of lower rank when sizes tie: [C] against [1, 1, C]).
      const aIsBig = size(a.shape) > size(b.shape) || (size(a.shape) === size(b.shape) && a.shape.length >= b.shape.length);
      const [big, small] = aIsBig ? [a, b] : [b, a];
      // A single value (an optimizer's learning rate or momentum) is a vector of one channel.
      const scalar = size(small.shape) === 1 && small.shape.length <= big.shape.length;
      const c = scalar ? 1 : big.shape[big.shape.length - 1];
      if (!scalar && (!isChannelVector(small.shape) || small.shape[small.shape.length - 1] !== c || small.shape.length > big.shape.length || c === 0)) return previous(args);
      const native = nativeKernels(args.backend);
      if (!native) return previous(args);
      const backend = args.backend;
      const out = backend.makeOutput([...big.shape], "float32");
      const rows = size(big.shape) / c;
      if (rows === 0) return out;
      const g = rowGroup(c);
      const main = rows - (rows % g);
      if (g === 1 || main === 0) {
        native.channel_binary(OPS[name], pointer(backend, big), pointer(backend, small), rows, c, pointer(backend, out), aIsBig ? 0 : 1);
        return out;
      }
      // Rows of c * g floats against the vector repeated g times, then the last rows % g rows.
      const wide = backend.makeOutput([c * g], "float32");
      try {
        const v = backend.typedArrayFromHeap(small) as Float32Array;
        const w = backend.typedArrayFromHeap(wide) as Float32Array;
        for (let k = 0; k < g; k++) w.set(v.subarray(0, c), k * c);
        native.channel_binary(OPS[name], pointer(backend, big), pointer(backend, wide), main / g, c * g, pointer(backend, out), aIsBig ? 0 : 1);
        if (main < rows) native.channel_binary(OPS[name], pointer(backend, big) + 4 * main * c, pointer(backend, small), rows - main, c, pointer(backend, out) + 4 * main * c, aIsBig ? 0 : 1);
      } finally {
        backend.disposeData(wide.dataId);
      }
      return out;
    };
}

/**
 * A convolution's kernel arguments (two input pointers, the output pointer, the n * oh output rows, then
 * the shape: see wasm_native_pool.ts's RUN_CHUNK), its row count and its multiply-adds.
 */
function convCall(backend: Backend, a: TensorInfo, b: TensorInfo, out: TensorInfo, info: tf.backend_util.Conv2DInfo): { rows: number; macs: number; params: number[] } {
  const rows = info.batchSize * info.outHeight;
  const params = [pointer(backend, a), pointer(backend, b), pointer(backend, out), rows, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.outChannels, info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left];
  return { rows, macs: rows * info.outWidth * info.outChannels * info.inChannels * info.filterHeight * info.filterWidth, params };
}

/** Conv2D's weight gradient natively (NHWC, float32, dilation 1); anything else to `previous`. */
function nativeConv2DBackpropFilter(previous: KernelFn): KernelFn {
  return (args) => {
    const { x, dy } = args.inputs;
    const attrs = args.attrs ?? {};
    const filterShape = attrs.filterShape as number[];
    if ((attrs.dataFormat && attrs.dataFormat !== "NHWC") || x.dtype !== "float32" || dy.dtype !== "float32" || x.shape.length !== 4) return previous(args);
    const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape as [number, number, number, number], attrs.strides, attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode, false, "channelsLast");
    if (info.dilationHeight !== 1 || info.dilationWidth !== 1 || info.inChannels !== filterShape[2]) return previous(args);
    const native = nativeKernels(args.backend);
    if (!native) return previous(args);
    const backend = args.backend;
    const out = backend.makeOutput([...filterShape], "float32");
    if (size(filterShape) === 0) return out;
    if (size(x.shape) === 0 || size(dy.shape) === 0) {
      backend.typedArrayFromHeap(out).fill(0);
      return out;
    }
    const { rows, macs, params } = convCall(backend, x, dy, out, info);
    if (rows < FILTER_PARTS || macs < PARALLEL_MACS) {
      native.conv2d_backprop_filter(params[0], params[1], params[2], 0, rows, ...shapeArgs(params));
      return out;
    }
    // FILTER_PARTS partial gradients over fixed ranges of rows (part 0 writes dw itself), added in order:
    // the same sum whichever thread ran which part, and with any number of threads.
    const count = size(filterShape);
    const partials = backend.makeOutput([(FILTER_PARTS - 1) * count], "float32");
    try {
      const base = pointer(backend, partials);
      const pool = nativePool(backend);
      const all = [...params, base, count * 4];
      if (pool) pool.run(native, KIND_FILTER, FILTER_PARTS, all);
      else for (let part = 0; part < FILTER_PARTS; part++) runNativeChunk(native, KIND_FILTER, part, FILTER_PARTS, all);
      for (let c = 1; c < FILTER_PARTS; c++) native.add_into(params[2], base + (c - 1) * count * 4, count);
    } catch (err) {
      backend.disposeData(out.dataId);
      throw err;
    } finally {
      backend.disposeData(partials.dataId);
    }
    return out;
  };
}

/** Conv2D (or FusedConv2D with neither bias nor activation) natively; anything else to `previous`. */
function nativeConv2D(fused: boolean) {
  return (previous: KernelFn): KernelFn =>
    (args) => {
      const { x, filter } = args.inputs;
      const attrs = args.attrs ?? {};
      if (fused && (args.inputs.bias || args.inputs.preluActivationWeights || (attrs.activation && attrs.activation !== "linear"))) return previous(args);
      if ((attrs.dataFormat && attrs.dataFormat !== "NHWC") || x.dtype !== "float32" || filter.dtype !== "float32" || x.shape.length !== 4) return previous(args);
      const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number], attrs.strides, attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode, false, "channelsLast");
      if (info.dilationHeight !== 1 || info.dilationWidth !== 1 || info.inChannels !== filter.shape[2]) return previous(args);
      const native = nativeKernels(args.backend);
      if (!native) return previous(args);
      const backend = args.backend;
      const out = backend.makeOutput([info.batchSize, info.outHeight, info.outWidth, info.outChannels], "float32");
      if (size(out.shape) === 0) return out;
      if (size(x.shape) === 0 || size(filter.shape) === 0) {
        backend.typedArrayFromHeap(out).fill(0);
        return out;
      }
      const { rows, macs, params } = convCall(backend, x, filter, out, info);
      // What a tap in the padding reads: one pixel of zeros.
      const zeros = backend.makeOutput([info.inChannels], "float32");
      try {
        backend.typedArrayFromHeap(zeros).fill(0);
        const zerosAt = pointer(backend, zeros);
        const pool = rows > 1 && macs >= PARALLEL_MACS ? nativePool(backend) : null;
        // Rows are independent: several chunks per thread even out a helper that wakes late.
        if (pool) pool.run(native, KIND_FORWARD, Math.min(4 * pool.threads, rows), [...params, zerosAt]);
        else native.conv2d_forward(params[0], params[1], params[2], 0, rows, ...shapeArgs(params), zerosAt);
      } catch (err) {
        backend.disposeData(out.dataId);
        throw err;
      } finally {
        backend.disposeData(zeros.dataId);
      }
      return out;
    };
}

/**
 * FusedBatchNorm whose mean, variance (and offset and scale, when given) have one value per channel of
 * x's last axis: one SIMD pass, (x - mean) * k + offset with k = scale / sqrt(variance + epsilon) worked
 * out per channel first. Anything else to `previous`.
 */
function nativeBatchNorm(previous: KernelFn): KernelFn {
  return (args) => {
    const { x, mean, variance, offset, scale } = args.inputs;
    if (!x || !mean || !variance || x.dtype !== "float32" || x.shape.length === 0) return previous(args);
    const c = x.shape[x.shape.length - 1];
    const perChannel = (t: TensorInfo | undefined) => !t || (t.dtype === "float32" && size(t.shape) === c && t.shape[t.shape.length - 1] === c);
    if (c === 0 || ![mean, variance, offset, scale].every(perChannel)) return previous(args);
    const native = nativeKernels(args.backend);
    if (!native) return previous(args);
    const backend = args.backend;
    const out = backend.makeOutput([...x.shape], "float32");
    const rows = size(x.shape) / c;
    if (rows === 0) return out;
    const params = backend.makeOutput([2 * c], "float32");
    try {
      const eps = (args.attrs?.varianceEpsilon as number | undefined) ?? 0.001;
      const v = backend.typedArrayFromHeap(variance);
      const s = scale ? backend.typedArrayFromHeap(scale) : undefined;
      const o = offset ? backend.typedArrayFromHeap(offset) : undefined;
      const p = backend.typedArrayFromHeap(params) as Float32Array;
      for (let ch = 0; ch < c; ch++) {
        p[ch] = (s ? s[ch] : 1) / Math.sqrt(v[ch] + eps);
        p[c + ch] = o ? o[ch] : 0;
      }
      const at = pointer(backend, params);
      runSplitPass(backend, native, rows, 2 * rows * c, [SPLIT_OPS.channelAffine, rows, pointer(backend, x), c, pointer(backend, mean), at, at + 4 * c, pointer(backend, out)]);
    } finally {
      backend.disposeData(params.dataId);
    }
    return out;
  };
}

/**
 * The window of a max pool over a float32 NHWC input when its windows tile the input (filter = stride, no
 * padding; rows and columns past the last window are in none), else null.
 */
function tiledWindow(input: TensorInfo, attrs: Record<string, any>): { fh: number; fw: number } | null {
  if (input.dtype !== "float32" || input.shape.length !== 4) return null;
  if (attrs.dataFormat && attrs.dataFormat !== "NHWC") return null;
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const { top, left, bottom, right } = info.padInfo;
  const [, h, w] = input.shape;
  if (fh !== sh || fw !== sw || top || left || bottom || right || info.outHeight !== Math.floor(h / fh) || info.outWidth !== Math.floor(w / fw)) return null;
  return { fh, fw };
}

/** MaxPoolGrad whose windows tile the input (filter = stride, no padding), float32 NHWC; else `previous`. */
function nativeMaxPoolGrad(previous: KernelFn): KernelFn {
  return (args) => {
    const { dy, input } = args.inputs;
    if (!dy || !input || dy.dtype !== "float32") return previous(args);
    const window = tiledWindow(input, args.attrs ?? {});
    if (!window) return previous(args);
    const native = nativeKernels(args.backend);
    if (!native) return previous(args);
    const backend = args.backend;
    const [n, h, w, c] = input.shape;
    const out = backend.makeOutput([...input.shape], "float32");
    if (size(input.shape) === 0) return out;
    runSplitPass(backend, native, n, 2 * size(input.shape), [SPLIT_OPS.maxPoolGrad, n, pointer(backend, input), pointer(backend, dy), pointer(backend, out), h, w, c, window.fh, window.fw]);
    return out;
  };
}

/** MaxPool whose windows tile the input, float32 NHWC, with MaxPoolGrad's rule (NaN never wins); else `previous`. */
function nativeMaxPool(previous: KernelFn): KernelFn {
  return (args) => {
    const { x } = args.inputs;
    if (!x) return previous(args);
    const window = tiledWindow(x, args.attrs ?? {});
    // A 1x1 window is the identity (NaN included), which the kernels below already give without a copy.
    if (!window || (window.fh === 1 && window.fw === 1)) return previous(args);
    const native = nativeKernels(args.backend);
    if (!native) return previous(args);
    const backend = args.backend;
    const [n, h, w, c] = x.shape;
    const out = backend.makeOutput([n, Math.floor(h / window.fh), Math.floor(w / window.fw), c], "float32");
    if (size(out.shape) === 0) return out;
    runSplitPass(backend, native, n, size(x.shape), [SPLIT_OPS.maxPool, n, pointer(backend, x), pointer(backend, out), h, w, c, window.fh, window.fw]);
    return out;
  };
}

/**
 * BatchMatMul in float32 natively: transposed operands are transposed first (tfjs's Transpose kernel),
 * then each product is matmul_rows (the convolution's register tiles, as a 1x1 convolution over a's
 * rows), on the helper threads by ranges of rows when large. A shared b (batch 1, e.g. a dense layer's
 * weights) makes the whole batch one product of batch * m rows. Batch dimensions that broadcast other
 * than "equal, or one of them 1" go to `previous`. XNNPACK repacked the weights on every call: LeNet's
 * dense layers ran at ~4 GMAC/s.
 */
function nativeBatchMatMul(previous: KernelFn): KernelFn {
  return (args) => {
    const { a, b } = args.inputs;
    const attrs = args.attrs ?? {};
    if (!a || !b || a.dtype !== "float32" || b.dtype !== "float32" || a.shape.length < 2 || b.shape.length < 2) return previous(args);
    const ra = a.shape.length, rb = b.shape.length;
    const [m, ka] = attrs.transposeA ? [a.shape[ra - 1], a.shape[ra - 2]] : [a.shape[ra - 2], a.shape[ra - 1]];
    const [kb, n] = attrs.transposeB ? [b.shape[rb - 1], b.shape[rb - 2]] : [b.shape[rb - 2], b.shape[rb - 1]];
    if (ka !== kb) return previous(args); // tfjs's own message
    const batchA = size(a.shape.slice(0, -2)), batchB = size(b.shape.slice(0, -2));
    if (batchA !== batchB && batchA !== 1 && batchB !== 1) return previous(args);
    let outBatch: number[];
    try {
      outBatch = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
    } catch {
      return previous(args);
    }
    if (size(outBatch) !== Math.max(batchA, batchB)) return previous(args);
    const native = nativeKernels(args.backend);
    if (!native) return previous(args);
    const backend = args.backend;
    const batch = size(outBatch), k = ka;
    const out = backend.makeOutput([...outBatch, m, n], "float32");
    if (batch * m * n === 0) return out;
    const scope = new Scope(backend);
    try {
      if (k === 0) {
        backend.typedArrayFromHeap(out).fill(0);
        return out;
      }
      const swapLast = (t: TensorInfo) => {
        const perm = t.shape.map((_, i) => i);
        [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
        return scope.run("Transpose", { x: t }, { perm });
      };
      const pa = pointer(backend, attrs.transposeA ? swapLast(a) : a);
      const pb = pointer(backend, attrs.transposeB ? swapLast(b) : b);
      const pc = pointer(backend, out);
      const product = (at: number, bt: number, ct: number, rows: number) => {
        const pool = rows >= 8 && rows * k * n >= PARALLEL_MACS ? nativePool(backend) : null;
        if (pool) pool.run(native, KIND_MATMUL, Math.min(4 * pool.threads, Math.floor(rows / 4)), [at, bt, ct, rows, k, n]);
        else native.matmul_rows(at, bt, ct, 0, rows, k, n);
      };
      if (batchB === 1) product(pa, pb, pc, batch * m); // a's batches are consecutive rows (a broadcast a is batch 1 too)
      else for (let i = 0; i < batch; i++) product(pa + (batchA === 1 ? 0 : i * m * k * 4), pb + i * k * n * 4, pc + i * m * n * 4, m);
    } catch (err) {
      backend.disposeData(out.dataId);
      throw err;
    } finally {
      scope.finish(out);
    }
    return out;
  };
}

/** Relu in float32 natively (one SIMD pass on the calling thread); anything else to `previous`. */
function nativeRelu(previous: KernelFn): KernelFn {
  return (args) => {
    const { x } = args.inputs;
    if (!x || x.dtype !== "float32") return previous(args);
    const native = nativeKernels(args.backend);
    if (!native) return previous(args);
    const out = args.backend.makeOutput([...x.shape], "float32");
    const n = size(x.shape);
    if (n > 0) runSplitPass(args.backend, native, n, 2 * n, [SPLIT_OPS.relu, n, pointer(args.backend, x), pointer(args.backend, out)]);
    return out;
  };
}

/** LeptonReluGrad: dy * step(x) in one pass (inputs dy, x: float32, one shape). */
function reluGradKernel({ inputs, backend }: { inputs: Record<string, TensorInfo>; backend: Backend }): TensorInfo {
  const { dy, x } = inputs;
  const native = nativeKernels(backend, { ignoreSwitch: true });
  if (!native) throw new Error("lepton: LeptonReluGrad needs lepton's WebAssembly kernels");
  const out = backend.makeOutput([...x.shape], "float32");
  const count = size(x.shape);
  if (count > 0) runSplitPass(backend, native, count, 3 * count, [SPLIT_OPS.reluGrad, count, pointer(backend, dy), pointer(backend, x), pointer(backend, out)]);
  return out;
}

/**
 * ReLU's gradient as one kernel on wasm: TensorFlow.js computes dy * cast(step(x)), a Step and a Multiply
 * over every activation (2.2 + ~4 ms of a ResNet-9 w16 step at batch 64). The gradient registry is global:
 * the new gradient function runs LeptonReluGrad only where it gives the same numbers without being
 * differentiated itself (the wasm backend with lepton's kernels on, float32, a first-order gradient); a
 * gradient of a gradient, another backend or LEPTON_NATIVE_KERNELS=0 take TensorFlow.js's own function.
 */
function installReluGradient(): void {
  const original = tf.getGradient("Relu");
  if (!original) return;
  tf.registerKernel({ kernelName: "LeptonReluGrad", backendName: "wasm", kernelFunc: reluGradKernel as any });
  tf.registerGradient({
    kernelName: "Relu",
    inputsToSave: original.inputsToSave,
    gradFunc: (dy, saved, attrs) => {
      const x = saved[0];
      const single = !Array.isArray(dy);
      const d = (single ? dy : dy[0]) as tf.Tensor;
      if (single && tf.getBackend() === "wasm" && tf.engine().state.gradientDepth === 0 && d.dtype === "float32" && x.dtype === "float32" && tf.util.arraysEqual(d.shape, x.shape) && nativeKernels(tf.backend() as unknown as Backend)) {
        return { x: () => tf.engine().runKernel("LeptonReluGrad", { dy: d, x }) as tf.Tensor };
      }
      return original.gradFunc(dy, saved, attrs);
    },
  });
}

/** Names of the kernels this file wraps in the wasm backend. */
export const NATIVE_WASM_KERNELS = ["Conv2D and FusedConv2D without bias or activation (NHWC, dilation 1)", "Conv2DBackpropFilter (NHWC, dilation 1)", "Sum (leading axes)", "Mean (leading axes)", "Add, Sub, Multiply, RealDiv (per channel, or same shapes)", "Relu", "FusedBatchNorm (per-channel statistics)", "MaxPool and MaxPoolGrad (windows that tile the input)", "BatchMatMul (float32)", "Relu's gradient (one pass instead of Step and Multiply)"] as const;

let installed = false;

/** Wrap Sum, Mean, Add, Sub, Multiply, RealDiv, FusedBatchNorm, MaxPoolGrad, Conv2D, FusedConv2D and Conv2DBackpropFilter with lepton's SIMD path (idempotent; after the other wasm kernels). */
export function installNativeWasmKernels(): void {
  if (installed) return;
  if (!tf.getKernel("Sum", "wasm")) throw new Error("lepton: the wasm backend has no Sum kernel to build on");
  wrapWasmKernel("Sum", nativeChannelReduction("Sum"));
  wrapWasmKernel("Mean", nativeChannelReduction("Mean"));
  for (const name of Object.keys(OPS)) wrapWasmKernel(name, nativeChannelBinary(name));
  wrapWasmKernel("Conv2DBackpropFilter", nativeConv2DBackpropFilter);
  wrapWasmKernel("FusedBatchNorm", nativeBatchNorm);
  wrapWasmKernel("MaxPoolGrad", nativeMaxPoolGrad);
  wrapWasmKernel("MaxPool", nativeMaxPool);
  wrapWasmKernel("BatchMatMul", nativeBatchMatMul);
  wrapWasmKernel("Relu", nativeRelu);
  installReluGradient();
  wrapWasmKernel("Conv2D", nativeConv2D(false));
  // FusedConv2D without bias or activation (the layers' forward pass, inference): lepton's loop where it
  // has fused multiply-adds (relaxed SIMD), XNNPACK's otherwise, on an idle 2-core machine: airbench's
  // batch-256 step spends 168 ms in it against XNNPACK's 253 with FMA, but without FMA XNNPACK's two threads
  // were the faster (65 against 86 ms per ResNet-9 w16 step, single-threaded loop). LEPTON_NATIVE_CONV=1 or
  // =0 chooses (read on every call).
  wrapWasmKernel("FusedConv2D", (previous) => {
    const native = nativeConv2D(true)(previous);
    return (args) => {
      const choice = process.env.LEPTON_NATIVE_CONV;
      if (choice === "1") return native(args);
      if (choice === "0") return previous(args);
      return nativeKernelsStatus(args.backend).instructions === "relaxed-simd" ? native(args) : previous(args);
    };
  });
  installed = true;
}
