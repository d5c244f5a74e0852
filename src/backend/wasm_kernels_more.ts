/**
 * More training kernels for TensorFlow.js's WebAssembly backend, on top of ./wasm_kernels:
 *
 *   Conv2DBackpropInput with stride > 1: the output gradient dilated by the stride (zeros between
 *     its pixels, one pass in JavaScript on the wasm heap), then the stride-1 path (XNNPACK Conv2D of
 *     the flipped, channel-swapped filter). The shipped kernel is a naive loop.
 *
 *   MaxPoolGrad for non-overlapping windows (window = stride, no padding: LeNet's and VGG's 2x2/2
 *     pools): each window is visited once and its gradient written straight to the first maximum,
 *     without the general kernel's per-window bookkeeping (about 5x faster); other pools go to the
 *     general kernel.
 *
 *   Identity without a copy: the result shares the input's buffer (reference-counted, as the pure-JS
 *     backend and the wasm backend's own Reshape do). Gradients and optimizers make ~36 per LeNet step.
 *     Cast to the dtype the tensor already has is shared the same way; a cast to bool gives 0/1 (the
 *     shipped kernel copied the raw numbers into bytes).
 *
 *   Slice read in place on the heap (the shipped kernel copies the whole input out first).
 *
 * Checked against the pure-JS backend in test/backend_more_kernels.test.ts.
 */
import * as tf from "@tensorflow/tfjs";

import { flipAndSwap, Scope, sharedData, wrapWasmKernel, zeroedOutput, type Backend, type KernelFn, type TensorInfo } from "./wasm_kernels";

function nhwcOnly(attrs: Record<string, any>, kernelName: string): void {
  if (attrs.dataFormat && attrs.dataFormat !== "NHWC") {
    throw new Error(`lepton wasm ${kernelName}: only NHWC (channels-last) tensors are supported, got ${attrs.dataFormat}; use dataFormat 'NHWC'`);
  }
}

/** Zeros between the pixels of dy: [N, OH, OW, C] -> [N, (OH-1)*sh+1, (OW-1)*sw+1, C]. */
function dilate(backend: Backend, dy: TensorInfo, sh: number, sw: number): TensorInfo {
  const [n, oh, ow, c] = dy.shape;
  const dh = (oh - 1) * sh + 1;
  const dw = (ow - 1) * sw + 1;
  const { out, values: target } = zeroedOutput(backend, [n, dh, dw, c]);
  const source = backend.typedArrayFromHeap(dy);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const from = ((b * oh + i) * ow + j) * c;
        const to = ((b * dh + i * sh) * dw + j * sw) * c;
        target.set(source.subarray(from, from + c), to);
      }
    }
  }
  return out;
}

/** Conv2DBackpropInput for strides > 1 via dilation; stride 1 (and anything unusual) goes to `previous`. */
function stridedConv2DBackpropInput(previous: KernelFn): KernelFn {
  return (args) => {
    const attrs = args.attrs ?? {};
    nhwcOnly(attrs, "Conv2DBackpropInput");
    const { dy, filter } = args.inputs;
    const inputShape = attrs.inputShape as [number, number, number, number];
    const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, "channelsLast");
    const [sh, sw] = [info.strideHeight, info.strideWidth];
    if ((sh === 1 && sw === 1) || dy.dtype !== "float32" || filter.dtype !== "float32") return previous(args);
    const [fh, fw] = [info.filterHeight, info.filterWidth];
    const dh = (dy.shape[1] - 1) * sh + 1;
    const dw = (dy.shape[2] - 1) * sw + 1;
    const top = fh - 1 - info.padInfo.top;
    const left = fw - 1 - info.padInfo.left;
    const bottom = inputShape[1] + fh - 1 - dh - top;
    const right = inputShape[2] + fw - 1 - dw - left;
    if (top < 0 || left < 0 || bottom < 0 || right < 0) return previous(args);
    const scope = new Scope(args.backend);
    const dilated = scope.keep(dilate(args.backend, dy, sh, sw));
    const flipped = scope.keep(flipAndSwap(args.backend, filter)); // [fh, fw, O, C], taps reversed
    const out = scope.run("Conv2D", { x: dilated, filter: flipped }, { strides: [1, 1], pad: [[0, 0], [top, bottom], [left, right], [0, 0]], dataFormat: "NHWC", dilations: [1, 1] });
    return scope.finish(out);
  };
}

/** The 2x2/2 case unrolled (LeNet's and VGG's pools): ~1.5x faster than the loop over window taps. */
function twoByTwoMaxPoolGrad(x: Float32Array, g: Float32Array, dx: Float32Array, n: number, h: number, w: number, c: number): void {
  const oh = h >> 1;
  const ow = w >> 1;
  const rowStride = w * c;
  let gAt = 0;
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      const rowBase = (b * h + 2 * i) * rowStride;
      for (let j = 0; j < ow; j++) {
        const a0 = rowBase + 2 * j * c;
        const a1 = a0 + c;
        const a2 = a0 + rowStride;
        const a3 = a2 + c;
        for (let ch = 0; ch < c; ch++, gAt++) {
          const v0 = x[a0 + ch];
          const v1 = x[a1 + ch];
          const v2 = x[a2 + ch];
          const v3 = x[a3 + ch];
          // The first strict maximum from -Infinity, as in the pure-JS backend: a NaN is never the maximum,
          // and a window of only NaN or -Infinity gets no gradient.
          let best = -Infinity;
          let k = -1;
          if (v0 > best) (best = v0), (k = 0);
          if (v1 > best) (best = v1), (k = 1);
          if (v2 > best) (best = v2), (k = 2);
          if (v3 > best) (best = v3), (k = 3);
          if (k >= 0) dx[(k === 0 ? a0 : k === 1 ? a1 : k === 2 ? a2 : a3) + ch] = g[gAt];
        }
      }
    }
  }
}

/** MaxPoolGrad when windows tile the input exactly once (filter = stride, no padding); else `previous`. */
function tiledMaxPoolGrad(previous: KernelFn): KernelFn {
  return (args) => {
    const { dy, input } = args.inputs;
    const attrs = args.attrs ?? {};
    const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
    const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
    const { top, left, bottom, right } = info.padInfo;
    if (fh !== sh || fw !== sw || top || left || bottom || right || input.dtype !== "float32" || input.shape.length !== 4) return previous(args);
    const backend = args.backend;
    const { out, values: dx } = zeroedOutput(backend, input.shape);
    const x = backend.typedArrayFromHeap(input);
    const g = backend.typedArrayFromHeap(dy);
    const [n, h, w, c] = input.shape;
    if (fh === 2 && fw === 2) {
      twoByTwoMaxPoolGrad(x, g, dx, n, h, w, c);
      return out;
    }
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          const corner = ((b * h + i * sh) * w + j * sw) * c;
          const gAt = ((b * oh + i) * ow + j) * c;
          for (let ch = 0; ch < c; ch++) {
            let at = -1;
            let best = -Infinity;
            for (let p = 0; p < fh; p++) {
              const row = corner + p * w * c + ch;
              for (let q = 0; q < fw; q++) {
                const v = x[row + q * c];
                // The first strict maximum from -Infinity, as in the pure-JS backend (NaN never wins).
                if (v > best) {
                  best = v;
                  at = row + q * c;
                }
              }
            }
            if (at >= 0) dx[at] = g[gAt + ch];
          }
        }
      }
    }
    return out;
  };
}

/** Identity that shares the input's data (strings keep the original copying kernel). */
function sharedIdentity(previous: KernelFn): KernelFn {
  return (args) => {
    const { x } = args.inputs;
    if (x.dtype === "string") return previous(args);
    return sharedData(args.backend, x);
  };
}

/**
 * Cast to the dtype a tensor already has, shared like Identity. TensorFlow.js's ReLU gradient casts its
 * float32 input to float32 on every step (a full copy on wasm: ~17 ms per ResNet-9 step at width 16).
 */
function sharedSameDtypeCast(previous: KernelFn): KernelFn {
  return (args) => {
    const { x } = args.inputs;
    const dtype = args.attrs?.dtype;
    if (x.dtype === "string") return previous(args);
    if (dtype === x.dtype) return sharedData(args.backend, x);
    if (dtype === "bool") {
      // The shipped kernel copies the numbers into bytes (2.5 -> 2, -2 -> 254); bool means "not zero".
      const out = args.backend.makeOutput([...x.shape], "bool");
      const target = (args.backend as unknown as { typedArrayFromHeap(t: TensorInfo): Uint8Array }).typedArrayFromHeap(out);
      const source = args.backend.typedArrayFromHeap(x);
      for (let i = 0; i < target.length; i++) target[i] = source[i] !== 0 ? 1 : 0;
      return out;
    }
    return previous(args);
  };
}

/**
 * Slice that reads the input where it lies on the heap. The shipped kernel first copies the whole input
 * out of the heap (`readSync`) for every slice: model.predict on 1,000 images cuts 32-image batches
 * from it, and each cut copied all 12 MB (~8 ms) to keep 0.4 MB.
 */
function heapSlice(previous: KernelFn): KernelFn {
  return (args) => {
    const { x } = args.inputs;
    if (x.dtype === "string") return previous(args);
    const attrs = args.attrs ?? {};
    const [begin, size] = tf.slice_util.parseSliceParams(x as unknown as tf.TensorInfo, attrs.begin, attrs.size);
    const backend = args.backend;
    const out = backend.makeOutput(size, x.dtype);
    const count = size.reduce((a, b) => a * b, 1);
    if (count === 0) return out;
    // Typed views of the right element type (float32, int32 or bool bytes) on the wasm heap.
    const source = backend.typedArrayFromHeap(x) as ArrayLike<number> as Float32Array;
    const target = backend.typedArrayFromHeap(out) as ArrayLike<number> as Float32Array;
    const strides = tf.util.computeStrides(x.shape);
    if (tf.slice_util.isSliceContinous(x.shape, begin, size)) {
      const from = tf.slice_util.computeFlatOffset(begin, strides);
      target.set(source.subarray(from, from + count));
      return out;
    }
    // Copy runs along the last axis; an odometer walks the leading axes of the output.
    const rank = x.shape.length;
    const run = size[rank - 1];
    const index = new Array<number>(Math.max(rank - 1, 0)).fill(0);
    for (let written = 0; written < count; written += run) {
      let from = begin[rank - 1];
      for (let d = 0; d < rank - 1; d++) from += (begin[d] + index[d]) * strides[d];
      target.set(source.subarray(from, from + run), written);
      for (let d = rank - 2; d >= 0; d--) {
        if (++index[d] < size[d]) break;
        index[d] = 0;
      }
    }
    return out;
  };
}

/** Names of the kernels this file adds to or wraps in the wasm backend. */
export const MORE_WASM_KERNELS = ["Conv2DBackpropInput (stride > 1)", "MaxPoolGrad (non-overlapping windows)", "Identity (shared, no copy)", "Cast (same dtype shared, no copy; to bool as 0/1)", "Slice (read in place, no copy of the whole input)"] as const;

let installed = false;

/** Register the kernels above on the wasm backend (idempotent; call after installWasmTrainingKernels). */
export function installMoreWasmKernels(): void {
  if (installed) return;
  if (!tf.getKernel("MaxPoolGrad", "wasm")) {
    throw new Error("lepton: installWasmTrainingKernels must run first (the wasm backend has no MaxPoolGrad kernel)");
  }
  wrapWasmKernel("Conv2DBackpropInput", stridedConv2DBackpropInput);
  wrapWasmKernel("MaxPoolGrad", tiledMaxPoolGrad);
  wrapWasmKernel("Identity", sharedIdentity);
  wrapWasmKernel("Cast", sharedSameDtypeCast);
  wrapWasmKernel("Slice", heapSlice);
  installed = true;
}
