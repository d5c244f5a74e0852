/**
 * Training kernels for TensorFlow.js's WebAssembly backend.
 *
 * The wasm backend ships no Conv2DBackpropFilter (so no convolutional network can train on it) and
 * a naive Conv2DBackpropInput loop. Both gradients are convolutions themselves, so we express them
 * with the backend's XNNPACK-backed Conv2D on transposed tensors:
 *
 *   dW = transpose(conv2d(transpose(x, [3,1,2,0]), transpose(dy, [1,2,0,3]), dilation = stride), [1,2,0,3])
 *   dx = conv2d(dilate(dy, stride), reverse(transpose(W, [0,1,3,2]), [0,1]), padding = k - 1 - pad)
 *
 *   MaxPoolGrad: one pass over the windows in JavaScript on the wasm heap (the shipped kernel is ~20x slower)
 *   BatchMatMul with transposed operands: transpose first, then XNNPACK's plain GEMM (~4x faster)
 *   DepthwiseConv2dNativeBackpropFilter/Input (missing from the wasm backend): direct loops on the heap
 *   Tile (batch-norm gradients): block copies in JavaScript on the wasm heap
 *   Sum/Mean over all leading axes (batch-norm statistics and gradients): XNNPACK's average pooling
 *   (the shipped generic kernels took ~0.5 s per batch-norm layer)
 *
 * Every kernel here is checked against the pure-JS backend in test/backend_kernels.test.ts.
 */
import * as tf from "@tensorflow/tfjs";

/** The slice of tfjs's TensorInfo and the wasm backend that lepton's kernels use (shared with ./wasm_kernels_more). */
export type TensorInfo = { dataId: object; shape: number[]; dtype: string };
export type Backend = {
  incRef(dataId: object): void;
  disposeData(dataId: object): void;
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array;
};
export type KernelFn = (args: { inputs: Record<string, TensorInfo>; backend: Backend; attrs?: Record<string, any> }) => TensorInfo;

/** A new float32 output on the wasm heap, filled with zeros, and its values (for gradients that accumulate). */
export function zeroedOutput(backend: Backend, shape: number[]): { out: TensorInfo; values: Float32Array } {
  const out = backend.makeOutput(shape, "float32");
  const values = backend.typedArrayFromHeap(out);
  values.fill(0);
  return { out, values };
}

function kernel(name: string): KernelFn {
  const config = tf.getKernel(name, "wasm");
  if (!config) throw new Error(`lepton: the wasm backend has no ${name} kernel to build on`);
  return config.kernelFunc as unknown as KernelFn;
}

/**
 * Replace the wasm backend's kernel `name` with `wrap(previous)`, where `previous` is the kernel
 * registered now. Its setup step (which binds its wasm functions when the backend starts) is kept.
 */
export function wrapWasmKernel(name: string, wrap: (previous: KernelFn) => KernelFn): void {
  const config = tf.getKernel(name, "wasm");
  if (!config) throw new Error(`lepton: the wasm backend has no ${name} kernel to build on`);
  tf.unregisterKernel(name, "wasm");
  tf.registerKernel({ kernelName: name, backendName: "wasm", kernelFunc: wrap(config.kernelFunc as unknown as KernelFn) as any, setupFunc: config.setupFunc });
}

/** A result that shares `x`'s buffer (reference-counted, as the wasm backend's own Reshape does): no copy. */
export function sharedData(backend: Backend, x: TensorInfo): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

/** Runs backend kernels and frees every intermediate result at the end. */
export class Scope {
  private readonly made: TensorInfo[] = [];
  constructor(readonly backend: Backend) {}
  run(name: string, inputs: Record<string, TensorInfo>, attrs: Record<string, unknown> = {}): TensorInfo {
    return this.keep(kernel(name)({ inputs, backend: this.backend, attrs }));
  }
  /** Free `made` (made here by other means) with the rest at the end. */
  keep(made: TensorInfo): TensorInfo {
    this.made.push(made);
    return made;
  }
  /** Free everything made except `keep`. */
  finish(keep: TensorInfo): TensorInfo {
    for (const t of this.made) if (t !== keep) this.backend.disposeData(t.dataId);
    return keep;
  }
}

function pair(v: number | [number, number] | number[]): [number, number] {
  return typeof v === "number" ? [v, v] : [v[0], v[1]];
}

function convInfo(xShape: number[], filterShape: number[], attrs: Record<string, any>) {
  if (attrs.dataFormat && attrs.dataFormat !== "NHWC") {
    throw new Error(`lepton wasm kernels: only NHWC convolutions are supported (got ${attrs.dataFormat})`);
  }
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    "channelsLast",
  );
}

/** dW for Conv2D, as a dilated convolution of the batch-transposed input with the output gradient. */
function conv2DBackpropFilter(args: { inputs: Record<string, TensorInfo>; backend: Backend; attrs?: Record<string, any> }): TensorInfo {
  const { x, dy } = args.inputs;
  const attrs = args.attrs ?? {};
  const filterShape = attrs.filterShape as number[];
  const info = convInfo(x.shape, filterShape, attrs);
  const [sh, sw] = [info.strideHeight, info.strideWidth];
  const { top, bottom, left, right } = info.padInfo;
  const scope = new Scope(args.backend);
  const xT = scope.run("Transpose", { x }, { perm: [3, 1, 2, 0] }); // [C, H, W, N]
  const dyT = scope.run("Transpose", { x: dy }, { perm: [1, 2, 0, 3] }); // [OH, OW, N, O]
  // For 'same' padding the bottom/right pads may be more than needed; the crop below handles it.
  const conv = scope.run(
    "Conv2D",
    { x: xT, filter: dyT },
    { strides: [1, 1], pad: [[0, 0], [top, bottom], [left, right], [0, 0]], dataFormat: "NHWC", dilations: [sh, sw] },
  ); // [C, >=fh, >=fw, O]
  let grad = conv;
  if (conv.shape[1] !== filterShape[0] || conv.shape[2] !== filterShape[1]) {
    grad = scope.run("Slice", { x: conv }, { begin: [0, 0, 0, 0], size: [conv.shape[0], filterShape[0], filterShape[1], conv.shape[3]] });
  }
  const out = scope.run("Transpose", { x: grad }, { perm: [1, 2, 0, 3] }); // [fh, fw, C, O]
  return scope.finish(out);
}

/**
 * The filter [fh, fw, C, O] turned into the input gradient's [fh, fw, O, C], taps reversed: one pass on the
 * heap (the Transpose and Reverse kernels it replaces took ~6 ms for a 3x3x128x128 filter).
 */
export function flipAndSwap(backend: Backend, filter: TensorInfo): TensorInfo {
  const [fh, fw, c, o] = filter.shape;
  const out = backend.makeOutput([fh, fw, o, c], "float32");
  const src = backend.typedArrayFromHeap(filter);
  const dst = backend.typedArrayFromHeap(out);
  for (let kh = 0; kh < fh; kh++) {
    for (let kw = 0; kw < fw; kw++) {
      const from = ((fh - 1 - kh) * fw + (fw - 1 - kw)) * c * o;
      const to = (kh * fw + kw) * o * c;
      for (let ci = 0; ci < c; ci++) for (let oi = 0; oi < o; oi++) dst[to + oi * c + ci] = src[from + ci * o + oi];
    }
  }
  return out;
}

/** dx for Conv2D with stride 1: a full convolution of dy with the flipped, channel-swapped filter. */
function conv2DBackpropInput(args: { inputs: Record<string, TensorInfo>; backend: Backend; attrs?: Record<string, any> }): TensorInfo {
  const { dy, filter } = args.inputs;
  const attrs = args.attrs ?? {};
  const inputShape = attrs.inputShape as number[];
  const info = convInfo(inputShape, filter.shape, { ...attrs, dilations: 1 });
  if (info.strideHeight !== 1 || info.strideWidth !== 1 || filter.dtype !== "float32") return original.Conv2DBackpropInput!(args as any);
  const [fh, fw] = [info.filterHeight, info.filterWidth];
  const top = fh - 1 - info.padInfo.top;
  const left = fw - 1 - info.padInfo.left;
  const bottom = inputShape[1] + fh - 1 - dy.shape[1] - top;
  const right = inputShape[2] + fw - 1 - dy.shape[2] - left;
  if (top < 0 || left < 0 || bottom < 0 || right < 0) return original.Conv2DBackpropInput!(args as any);
  const scope = new Scope(args.backend);
  const flipped = scope.keep(flipAndSwap(args.backend, filter));
  const out = scope.run(
    "Conv2D",
    { x: dy, filter: flipped },
    { strides: [1, 1], pad: [[0, 0], [top, bottom], [left, right], [0, 0]], dataFormat: "NHWC", dilations: [1, 1] },
  );
  return scope.finish(out);
}

/**
 * dx for MaxPool (NHWC): each output's gradient goes to the first maximum of its window, as in
 * TensorFlow and tfjs's pure-JS backend.
 */
function maxPoolGrad(args: { inputs: Record<string, TensorInfo>; backend: Backend; attrs?: Record<string, any> }): TensorInfo {
  const { dy, input } = args.inputs;
  const attrs = args.attrs ?? {};
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const backend = args.backend;
  const { out, values: dx } = zeroedOutput(backend, input.shape);
  const x = backend.typedArrayFromHeap(input);
  const g = backend.typedArrayFromHeap(dy);
  const [n, h, w, c] = input.shape;
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  // Channels innermost: the window's pixels are read in memory order.
  const best = new Float32Array(c);
  const at = new Int32Array(c);
  for (let b = 0; b < n; b++) {
    const xb = b * h * w * c;
    for (let i = 0; i < oh; i++) {
      const r0 = Math.max(0, i * sh - top);
      const r1 = Math.min(h, i * sh - top + fh);
      for (let j = 0; j < ow; j++) {
        const c0 = Math.max(0, j * sw - left);
        const c1 = Math.min(w, j * sw - left + fw);
        at.fill(-1);
        best.fill(-Infinity);
        for (let r = r0; r < r1; r++) {
          for (let q = c0; q < c1; q++) {
            const base = xb + (r * w + q) * c;
            for (let ch = 0; ch < c; ch++) {
              const v = x[base + ch];
              // The first strict maximum from -Infinity, as in the pure-JS backend (NaN never wins; a
              // window of only NaN or -Infinity gets no gradient).
              if (v > best[ch]) {
                best[ch] = v;
                at[ch] = base + ch;
              }
            }
          }
        }
        const gBase = ((b * oh + i) * ow + j) * c;
        for (let ch = 0; ch < c; ch++) if (at[ch] >= 0) dx[at[ch]] += g[gBase + ch];
      }
    }
  }
  return out;
}

/** BatchMatMul whose transposed operands are transposed explicitly first: XNNPACK's GEMM wants plain layouts. */
function batchMatMul(args: { inputs: Record<string, TensorInfo>; backend: Backend; attrs?: Record<string, any> }): TensorInfo {
  const attrs = args.attrs ?? {};
  if (!attrs.transposeA && !attrs.transposeB) return original.BatchMatMul!(args as any);
  const scope = new Scope(args.backend);
  const swapLast = (t: TensorInfo) => {
    const perm = t.shape.map((_, i) => i);
    [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
    return scope.run("Transpose", { x: t }, { perm });
  };
  const a = attrs.transposeA ? swapLast(args.inputs.a) : args.inputs.a;
  const b = attrs.transposeB ? swapLast(args.inputs.b) : args.inputs.b;
  const out = original.BatchMatMul!({ inputs: { a, b }, backend: args.backend, attrs: { ...attrs, transposeA: false, transposeB: false } } as any);
  return scope.finish(out);
}

/** Tile by block copies, innermost axis first: each step repeats contiguous blocks. */
function tile(args: { inputs: Record<string, TensorInfo>; backend: Backend; attrs?: Record<string, any> }): TensorInfo {
  const { x } = args.inputs;
  const reps = (args.attrs?.reps ?? []) as number[];
  if (x.dtype !== "float32") return original.Tile!(args as any);
  const backend = args.backend;
  const rank = x.shape.length;
  if (rank >= 2 && x.shape.slice(0, -1).every((d) => d === 1) && (reps[rank - 1] ?? 1) === 1) {
    return repeatVector(backend, x, x.shape.map((d, i) => d * (reps[i] ?? 1)));
  }
  let cur: Float32Array = backend.typedArrayFromHeap(x).slice();
  const shape = [...x.shape];
  for (let d = shape.length - 1; d >= 0; d--) {
    const r = reps[d] ?? 1;
    if (r === 1) continue;
    const inner = shape.slice(d).reduce((a, b) => a * b, 1);
    const outer = cur.length / inner;
    const next = new Float32Array(cur.length * r);
    for (let o = 0; o < outer; o++) {
      const block = cur.subarray(o * inner, (o + 1) * inner);
      for (let k = 0; k < r; k++) next.set(block, (o * r + k) * inner);
    }
    cur = next;
    shape[d] *= r;
  }
  const out = backend.makeOutput(shape, "float32");
  backend.typedArrayFromHeap(out).set(cur);
  return out;
}

/**
 * Tile of a per-channel vector [1, ..., 1, C] to [..., C] (batch-norm gradients): written straight into
 * the output, doubling the filled part each step (~16 copies for 64x32x32x32, no JS-side buffers).
 */
function repeatVector(backend: Backend, x: TensorInfo, shape: number[]): TensorInfo {
  const out = backend.makeOutput(shape, "float32");
  const values = backend.typedArrayFromHeap(out);
  const c = x.shape[x.shape.length - 1];
  if (values.length === 0) return out;
  values.set(backend.typedArrayFromHeap(x).subarray(0, c), 0);
  for (let filled = c; filled < values.length; filled *= 2) values.copyWithin(filled, 0, Math.min(filled, values.length - filled));
  return out;
}

/**
 * Sum or Mean over every axis but the last (per-channel statistics, as batch norm needs them); other
 * reductions go to the originals. x is viewed as [first axis, rest, 1, c] and XNNPACK's average pooling
 * takes the mean over `rest` (in parallel over the first axis); the few remaining rows are summed here.
 * About 1 ms for a 64x32x32x32 batch, against ~12 ms for the shipped kernel (which transposes first).
 * (A GEMM with a row of ones is no faster: tfjs packs the GEMM's right-hand side on every new tensor.)
 */
function channelReduction(kind: "Sum" | "Mean") {
  return (args: { inputs: Record<string, TensorInfo>; backend: Backend; attrs?: Record<string, any> }): TensorInfo => {
    const { x } = args.inputs;
    const rank = x.shape.length;
    const raw = args.attrs?.axis;
    const axes = (Array.isArray(raw) ? raw : raw === undefined || raw === null ? [] : [raw]).map((a: number) => (a < 0 ? a + rank : a)).sort();
    const leading = rank >= 2 && axes.length === rank - 1 && axes.every((a: number, i: number) => a === i);
    if (!leading || x.dtype !== "float32") return original[kind]!(args as any);
    const c = x.shape[rank - 1];
    const rows = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const backend = args.backend;
    const shape = args.attrs?.keepDims ? x.shape.map((d, i) => (i === rank - 1 ? d : 1)) : [c];
    const out = backend.makeOutput(shape, "float32");
    const target = backend.typedArrayFromHeap(out);
    if (rows === 0) {
      target.fill(kind === "Mean" ? NaN : 0);
      return out;
    }
    const first = rank >= 3 ? x.shape[0] : 1;
    const rest = rows / first;
    const means = kernel("AvgPool")({
      inputs: { x: { dataId: x.dataId, shape: [first, rest, 1, c], dtype: "float32" } },
      backend,
      attrs: { filterSize: [rest, 1], strides: [1, 1], pad: "valid", dimRoundingMode: undefined },
    });
    const m = backend.typedArrayFromHeap(means);
    const scale = kind === "Mean" ? 1 / first : rest;
    for (let ch = 0; ch < c; ch++) {
      let acc = 0;
      for (let r = 0; r < first; r++) acc += m[r * c + ch];
      target[ch] = acc * scale;
    }
    backend.disposeData(means.dataId);
    return out;
  };
}

/** Shapes and offsets shared by the two depthwise gradients. */
function depthwiseInfo(xShape: number[], filterShape: number[], attrs: Record<string, any>) {
  if (attrs.dataFormat && attrs.dataFormat !== "NHWC") throw new Error(`lepton wasm kernels: only NHWC depthwise convolutions are supported (got ${attrs.dataFormat})`);
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  return info;
}

type DepthwiseArgs = { inputs: Record<string, TensorInfo>; backend: Backend; attrs?: Record<string, any> };

/** Visit every (input, filter, output) triple of a depthwise convolution. */
function forEachDepthwiseTap(
  info: ReturnType<typeof depthwiseInfo>,
  visit: (xIndex: number, wIndex: number, dyIndex: number) => void,
): void {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow, filterHeight: fh, filterWidth: fw } = info;
  const m = info.outChannels / c;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const dyBase = ((b * oh + i) * ow + j) * c * m;
        for (let fi = 0; fi < fh; fi++) {
          const r = i * sh - top + fi * dh;
          if (r < 0 || r >= h) continue;
          for (let fj = 0; fj < fw; fj++) {
            const q = j * sw - left + fj * dw;
            if (q < 0 || q >= w) continue;
            const xBase = ((b * h + r) * w + q) * c;
            const wBase = (fi * fw + fj) * c * m;
            for (let ch = 0; ch < c; ch++) {
              for (let k = 0; k < m; k++) visit(xBase + ch, wBase + ch * m + k, dyBase + ch * m + k);
            }
          }
        }
      }
    }
  }
}

function depthwiseBackpropFilter(args: DepthwiseArgs): TensorInfo {
  const { x, dy } = args.inputs;
  const filterShape = args.attrs?.filterShape as number[];
  const info = depthwiseInfo(x.shape, filterShape, args.attrs ?? {});
  const { out, values: dW } = zeroedOutput(args.backend, filterShape);
  const xv = args.backend.typedArrayFromHeap(x);
  const g = args.backend.typedArrayFromHeap(dy);
  forEachDepthwiseTap(info, (xi, wi, gi) => {
    dW[wi] += xv[xi] * g[gi];
  });
  return out;
}

function depthwiseBackpropInput(args: DepthwiseArgs): TensorInfo {
  const { dy, filter } = args.inputs;
  const inputShape = args.attrs?.inputShape as number[];
  const info = depthwiseInfo(inputShape, filter.shape, args.attrs ?? {});
  const { out, values: dx } = zeroedOutput(args.backend, inputShape);
  const wv = args.backend.typedArrayFromHeap(filter);
  const g = args.backend.typedArrayFromHeap(dy);
  forEachDepthwiseTap(info, (xi, wi, gi) => {
    dx[xi] += wv[wi] * g[gi];
  });
  return out;
}

const original: { Conv2DBackpropInput?: KernelFn; BatchMatMul?: KernelFn; Tile?: KernelFn; Sum?: KernelFn; Mean?: KernelFn } = {};
let installed = false;

/** Names of the kernels lepton adds to or replaces in the wasm backend. */
export const WASM_TRAINING_KERNELS = ["Conv2DBackpropFilter", "Conv2DBackpropInput", "MaxPoolGrad", "BatchMatMul", "Tile", "Sum", "Mean", "DepthwiseConv2dNativeBackpropFilter", "DepthwiseConv2dNativeBackpropInput"] as const;

/** Register lepton's training kernels on the wasm backend (idempotent). */
export function installWasmTrainingKernels(): void {
  if (installed) return;
  const existingInput = tf.getKernel("Conv2DBackpropInput", "wasm");
  if (existingInput) {
    original.Conv2DBackpropInput = existingInput.kernelFunc as unknown as KernelFn;
    tf.unregisterKernel("Conv2DBackpropInput", "wasm");
  }
  const existingMatMul = tf.getKernel("BatchMatMul", "wasm");
  if (!existingMatMul) throw new Error("lepton: the wasm backend has no BatchMatMul kernel");
  original.BatchMatMul = existingMatMul.kernelFunc as unknown as KernelFn;
  for (const name of ["Conv2DBackpropFilter", "MaxPoolGrad", "BatchMatMul"]) if (tf.getKernel(name, "wasm")) tf.unregisterKernel(name, "wasm");
  tf.registerKernel({ kernelName: "Conv2DBackpropFilter", backendName: "wasm", kernelFunc: conv2DBackpropFilter as any });
  // The originals bind their wasm functions in a setup step when the backend starts: keep it.
  tf.registerKernel({ kernelName: "Conv2DBackpropInput", backendName: "wasm", kernelFunc: conv2DBackpropInput as any, setupFunc: existingInput?.setupFunc });
  tf.registerKernel({ kernelName: "MaxPoolGrad", backendName: "wasm", kernelFunc: maxPoolGrad as any });
  tf.registerKernel({ kernelName: "BatchMatMul", backendName: "wasm", kernelFunc: batchMatMul as any, setupFunc: existingMatMul.setupFunc });
  for (const [name, kernelFunc] of [["DepthwiseConv2dNativeBackpropFilter", depthwiseBackpropFilter], ["DepthwiseConv2dNativeBackpropInput", depthwiseBackpropInput]] as const) {
    if (tf.getKernel(name, "wasm")) tf.unregisterKernel(name, "wasm");
    tf.registerKernel({ kernelName: name, backendName: "wasm", kernelFunc: kernelFunc as any });
  }
  const replacements: [keyof typeof original, KernelFn][] = [["Tile", tile], ["Sum", channelReduction("Sum")], ["Mean", channelReduction("Mean")]];
  for (const [name, kernelFunc] of replacements) {
    wrapWasmKernel(name, (previous) => {
      original[name] = previous;
      return kernelFunc;
    });
  }
  installed = true;
}
