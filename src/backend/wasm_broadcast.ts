/**
 * Per-channel broadcasting for TensorFlow.js's WebAssembly backend.
 *
 * A bias add, a batch-norm scale or its gradient combines a big [..., C] tensor with a per-channel
 * vector ([C] or [1, ..., 1, C]). XNNPACK broadcasts such an operand row by row, and rows of C = 3..128
 * floats are too short for its SIMD loops: a 64x28x28x6 + [6] add took ~1.1 ms. Viewing the big
 * operand as rows of C*k values and the vector repeated k times gives the same numbers (every element
 * still meets its own channel's value) in ~0.08 ms. ResNet-9 (batch norm) makes dozens of these per step.
 *
 * Only float32, only the exact per-channel pattern, and only when the rows can be grouped evenly;
 * everything else goes to the shipped kernel. Checked against the pure-JS backend in
 * test/backend_broadcast.test.ts.
 */
import { wrapWasmKernel, type KernelFn, type TensorInfo } from "./wasm_kernels";
import { installNativeWasmKernels } from "./wasm_native";
import { installFusedBatchNormTraining } from "./wasm_batchnorm";

/** The element-wise ops rewritten here (all XNNPACK-backed in tfjs-backend-wasm). */
export const BROADCAST_KERNELS = ["Add", "Sub", "Multiply", "RealDiv"] as const;

/** Rows of at least this many values keep XNNPACK's loops busy. */
const TARGET_ROW = 256;

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** True when `shape` is [C] or [1, ..., 1, C]. */
function isChannelVector(shape: number[]): boolean {
  return shape.length >= 1 && shape.slice(0, -1).every((d) => d === 1);
}

/**
 * How to regroup `big` (shape [..., C]) against the per-channel `small`: k rows of C values become one
 * row of C*k values; undefined when the pattern does not apply or would not help.
 */
export function channelGrouping(big: number[], small: number[]): number | undefined {
  if (big.length < 2 || small.length > big.length || !isChannelVector(small)) return undefined;
  const c = big[big.length - 1];
  if (small[small.length - 1] !== c || c >= TARGET_ROW) return undefined;
  const rows = size(big) / c;
  for (let k = Math.min(Math.ceil(TARGET_ROW / c), rows); k >= 4; k--) {
    if (rows % k === 0) return k;
  }
  return undefined;
}

function channelBroadcast(previous: KernelFn): KernelFn {
  return (args) => {
    const { a, b } = args.inputs;
    if (!a || !b || a.dtype !== "float32" || b.dtype !== "float32") return previous(args);
    const aIsBig = size(a.shape) >= size(b.shape);
    const [big, small] = aIsBig ? [a, b] : [b, a];
    const k = channelGrouping(big.shape, small.shape);
    if (k === undefined) return previous(args);
    const backend = args.backend;
    const c = big.shape[big.shape.length - 1];
    const repeated = backend.makeOutput([c * k], "float32");
    const values = backend.typedArrayFromHeap(repeated);
    const channel = backend.typedArrayFromHeap(small);
    for (let r = 0; r < k; r++) values.set(channel.subarray(0, c), r * c);
    const bigView: TensorInfo = { dataId: big.dataId, shape: [size(big.shape) / (c * k), c * k], dtype: "float32" };
    const inputs = aIsBig ? { a: bigView, b: repeated } : { a: repeated, b: bigView };
    let out: TensorInfo;
    try {
      out = previous({ inputs, backend, attrs: args.attrs });
    } finally {
      backend.disposeData(repeated.dataId);
    }
    return { dataId: out.dataId, shape: [...big.shape], dtype: out.dtype };
  };
}

let installed = false;

/**
 * Wrap the wasm backend's Add, Sub, Multiply and RealDiv with the per-channel path (idempotent), then
 * lepton's own SIMD kernels (./wasm_native) on top: they take the per-channel cases first and hand the
 * rest (or everything, where they cannot run) to the path above.
 */
export function installWasmBroadcastKernels(): void {
  if (installed) return;
  for (const name of BROADCAST_KERNELS) wrapWasmKernel(name, channelBroadcast);
  installNativeWasmKernels();
  installFusedBatchNormTraining();
  installed = true;
}
