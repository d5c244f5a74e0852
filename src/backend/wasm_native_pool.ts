/**
 * Helper threads for lepton's native convolutions (native/lepton_kernels.c) on the threaded wasm build.
 *
 * Each helper is a Node worker thread that instantiates the shared-memory kernel module on tfjs's own
 * shared WebAssembly.Memory, so it reads and writes the same tensors as the main thread. A call is cut
 * into chunks (ranges of output rows); the main thread publishes the call in a small control array,
 * wakes the helpers, and takes chunks itself like any helper. A chunk is claimed by counting a shared
 * "remaining" word down with compare-and-swap, so every chunk runs exactly once, whoever takes it; the
 * main thread then waits only for chunks that were claimed, and claimed chunks never wait on anything.
 * A helper that is still starting, or asleep, simply takes no chunks: the call never depends on it.
 *
 * The chunks of a weight gradient are fixed in advance (chunk k sums a fixed range of rows into its own
 * partial buffer), and the partials are added in a fixed order: the result does not depend on which
 * thread ran what, nor on how many threads there are.
 *
 * Off with LEPTON_NATIVE_THREADS=1; LEPTON_NATIVE_THREADS=n asks for n threads in all (the main thread
 * and n - 1 helpers), by default as many as XNNPACK's pool. Helpers are unreferenced: they never keep a
 * finished script alive.
 */
import { Worker } from "worker_threads";

/** Control words (Int32Array indices). */
const SEQ = 0; // bumped once per call: helpers sleep on it
const REMAINING = 1; // chunks not yet claimed
const DONE = 2; // chunks finished
const READY = 3; // helpers started
const ERROR = 4; // 1 when a helper's chunk threw
const KIND = 5; // 1 forward, 2 backprop filter, 3 matrix product, 4 a split memory-bound pass
const CHUNKS = 6;
const STOP = 7; // 1: helpers exit
const HELPED = 8; // chunks the helpers have run, in all
const PARAMS = 16; // the call's arguments, then KIND-specific extras
const MAX_PARAMS = 32;
const CONTROL_WORDS = PARAMS + MAX_PARAMS;

/**
 * How long a helper keeps polling for the next call after one ends, and the main thread for the
 * helpers' last chunks, before sleeping (ms). Measured on the 2-core machine: a sleeping thread took
 * 50-100 us to wake, so a 64x64x64 product in two chunks took 100 us instead of 20, and LeNet's 0.7 ms
 * convolutions ran no faster on two threads than on one.
 */
const HELPER_SPIN_MS = 0.3;
const MAIN_SPIN_MS = 5;

export const KIND_FORWARD = 1;
export const KIND_FILTER = 2;
export const KIND_MATMUL = 3;
/** A memory-bound pass cut into ranges of units (elements, rows or images): p = [op, units, ...], see SPLIT_OPS. */
export const KIND_SPLIT = 4;
/** The passes KIND_SPLIT runs (p[0]). */
export const SPLIT_OPS = { reluGrad: 0, relu: 1, bnBackwardDx: 2, channelAffine: 3, maxPoolGrad: 4, maxPool: 5 } as const;

/**
 * What a chunk does, the same code on every thread (written once, as a string, for the helpers).
 * p: [x, w-or-dy, out, rows, h, w, cin, oh, ow, cout, fh, fw, sh, sw, pt, pl, then zeros (forward) or
 * partials, partialStride (filter)]; a matrix product: [a, b, c, rows of c, k, n].
 */
const RUN_CHUNK = `function runChunk(k, kind, chunk, chunks, p) {
  const rows = p[3];
  const g0 = Math.floor((chunk * rows) / chunks), g1 = Math.floor(((chunk + 1) * rows) / chunks);
  // An empty range still runs: a weight-gradient part must be zeroed, since every part is added.
  if (kind === ${KIND_SPLIT}) {
    const u0 = Math.floor((chunk * p[1]) / chunks), u1 = Math.floor(((chunk + 1) * p[1]) / chunks), n = u1 - u0;
    if (n <= 0) return;
    // Every range writes only its own units; byte offsets of unit u0 in each array.
    switch (p[0]) {
      case 0: { const o = 4 * u0; k.relu_grad(p[2] + o, p[3] + o, p[4] + o, n); break; } // [op, count, dy, x, out]
      case 1: { const o = 4 * u0; k.relu(p[2] + o, p[3] + o, n); break; } // [op, count, x, out]
      case 2: { const o = 4 * u0 * p[3]; k.bn_backward_dx(p[2] + o, p[4] + o, p[5], n, p[3], p[6] + o); break; } // [op, rows, dy, c, x, params, dx]
      case 3: { const o = 4 * u0 * p[3]; k.channel_affine(p[2] + o, n, p[3], p[4], p[5], p[6], p[7] + o); break; } // [op, rows, x, c, mean, k, offset, out]
      case 4: { // [op, images, x, g, dx, h, w, c, fh, fw]: x and dx images of h*w*c floats, g of (h/fh)*(w/fw)*c
        const img = p[5] * p[6] * p[7], pooled = Math.floor(p[5] / p[8]) * Math.floor(p[6] / p[9]) * p[7];
        k.max_pool_grad_tiled(p[2] + 4 * u0 * img, p[3] + 4 * u0 * pooled, p[4] + 4 * u0 * img, n, p[5], p[6], p[7], p[8], p[9]);
        break;
      }
      case 5: { // [op, images, x, out, h, w, c, fh, fw]
        const img = p[4] * p[5] * p[6], pooled = Math.floor(p[4] / p[7]) * Math.floor(p[5] / p[8]) * p[6];
        k.max_pool_tiled(p[2] + 4 * u0 * img, p[3] + 4 * u0 * pooled, n, p[4], p[5], p[6], p[7], p[8]);
        break;
      }
      default: throw new Error("lepton: unknown split pass " + p[0]);
    }
  } else if (kind === ${KIND_MATMUL}) {
    k.matmul_rows(p[0], p[1], p[2], g0, g1, p[4], p[5]);
  } else if (kind === ${KIND_FORWARD}) {
    k.conv2d_forward(p[0], p[1], p[2], g0, g1, p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13], p[14], p[15], p[16]);
  } else {
    const out = chunk === 0 ? p[2] : p[16] + (chunk - 1) * p[17];
    k.conv2d_backprop_filter(p[0], p[1], out, g0, g1, p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13], p[14], p[15]);
  }
}`;

/** Claim the next chunk of the open call: its index, or -1 when none is left. */
const CLAIM = `function claim(ctrl) {
  for (;;) {
    const left = Atomics.load(ctrl, ${REMAINING});
    if (left <= 0) return -1;
    if (Atomics.compareExchange(ctrl, ${REMAINING}, left, left - 1) === left) return left - 1;
  }
}`;

const HELPER_SOURCE = `"use strict";
const { workerData } = require("worker_threads");
${RUN_CHUNK}
${CLAIM}
const ctrl = new Int32Array(workerData.control);
const k = new WebAssembly.Instance(workerData.module, { env: { memory: workerData.memory } }).exports;
const p = new Array(${MAX_PARAMS});
let seen = Atomics.load(ctrl, ${SEQ});
Atomics.add(ctrl, ${READY}, 1);
// STOP is checked before every wait: a helper that started after close() bumped SEQ must not sleep.
while (!Atomics.load(ctrl, ${STOP})) {
  // Spin a little before sleeping: a training step's convolutions come in quick succession, and a
  // sleeping helper takes 50-100 us to wake (the main thread would have done the chunks by then).
  const until = performance.now() + ${HELPER_SPIN_MS};
  while (Atomics.load(ctrl, ${SEQ}) === seen && !Atomics.load(ctrl, ${STOP}) && performance.now() < until);
  Atomics.wait(ctrl, ${SEQ}, seen);
  seen = Atomics.load(ctrl, ${SEQ});
  if (Atomics.load(ctrl, ${STOP})) break;
  for (;;) {
    const chunk = claim(ctrl);
    if (chunk < 0) break;
    // The call stays open (its parameters unchanged) until this claimed chunk is counted done.
    try {
      const kind = Atomics.load(ctrl, ${KIND}), chunks = Atomics.load(ctrl, ${CHUNKS});
      for (let i = 0; i < ${MAX_PARAMS}; i++) p[i] = Atomics.load(ctrl, ${PARAMS} + i);
      runChunk(k, kind, chunk, chunks, p);
    } catch (err) {
      Atomics.store(ctrl, ${ERROR}, 1);
    }
    Atomics.add(ctrl, ${HELPED}, 1);
    Atomics.add(ctrl, ${DONE}, 1);
    Atomics.notify(ctrl, ${DONE});
  }
}
`;

// The same two functions on the main thread (one source for both sides).
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const mainFns = new Function(`${RUN_CHUNK}\n${CLAIM}\nreturn { runChunk, claim };`)() as {
  runChunk(k: unknown, kind: number, chunk: number, chunks: number, p: ArrayLike<number>): void;
  claim(ctrl: Int32Array): number;
};

/** Run one chunk of a call on this thread (what a pool does with it, without one). */
export function runNativeChunk(exports: unknown, kind: number, chunk: number, chunks: number, params: ArrayLike<number>): void {
  mainFns.runChunk(exports, kind, chunk, chunks, params);
}

export interface NativePool {
  /** Threads in all (the main thread and its helpers). */
  readonly threads: number;
  /** Helpers that have started (they take chunks from then on). */
  ready(): number;
  /** Chunks the helpers have run since the pool started. */
  helped(): number;
  /**
   * Run `chunks` chunks of `kind` with these parameters (see RUN_CHUNK), on this thread and any helper
   * awake; returns when every chunk is done.
   */
  run(exports: unknown, kind: number, chunks: number, params: number[]): void;
  /** Stop the helpers (tests). */
  close(): Promise<void>;
}

/** Start `threads - 1` helpers on `memory` with the shared kernel `module`; null when threads < 2. */
export function startNativePool(memory: WebAssembly.Memory, module: WebAssembly.Module, threads: number): NativePool | null {
  if (threads < 2) return null;
  const control = new SharedArrayBuffer(CONTROL_WORDS * 4);
  const ctrl = new Int32Array(control);
  const workers: Worker[] = [];
  for (let i = 0; i < threads - 1; i++) {
    const worker = new Worker(HELPER_SOURCE, { eval: true, workerData: { memory, module, control } });
    worker.unref();
    // A helper that dies takes no more chunks; its claimed chunk (if any) was already counted by its catch.
    worker.on("error", () => undefined);
    workers.push(worker);
  }
  return {
    threads,
    ready: () => Atomics.load(ctrl, READY),
    helped: () => Atomics.load(ctrl, HELPED),
    run(exports, kind, chunks, params) {
      if (params.length > MAX_PARAMS) throw new Error("lepton: too many parameters for a native pool call");
      Atomics.store(ctrl, KIND, kind);
      Atomics.store(ctrl, CHUNKS, chunks);
      for (let i = 0; i < params.length; i++) Atomics.store(ctrl, PARAMS + i, params[i]);
      Atomics.store(ctrl, DONE, 0);
      Atomics.store(ctrl, ERROR, 0);
      Atomics.store(ctrl, REMAINING, chunks); // publishes the call: helpers may claim from here on
      Atomics.add(ctrl, SEQ, 1);
      Atomics.notify(ctrl, SEQ);
      let mine = 0;
      let failure: unknown;
      for (;;) {
        const chunk = mainFns.claim(ctrl);
        if (chunk < 0) break;
        // A chunk that throws here still counts as done, and the call still waits for every claimed
        // chunk: the next call must not start while a helper may still write this one's memory.
        try {
          mainFns.runChunk(exports, kind, chunk, chunks, params);
        } catch (err) {
          failure ??= err;
        }
        mine++;
      }
      Atomics.add(ctrl, DONE, mine);
      // Only claimed chunks are outstanding, and those are running: wait for them, first spinning (a
      // helper's notify takes as long to wake this thread as a small chunk takes to run).
      const until = performance.now() + MAIN_SPIN_MS;
      while (Atomics.load(ctrl, DONE) < chunks && performance.now() < until);
      for (;;) {
        const done = Atomics.load(ctrl, DONE);
        if (done >= chunks) break;
        Atomics.wait(ctrl, DONE, done, 1000);
      }
      if (failure !== undefined) throw failure;
      if (Atomics.load(ctrl, ERROR)) throw new Error("lepton: a native kernel helper thread failed; set LEPTON_NATIVE_THREADS=1 to run lepton's kernels on one thread");
    },
    async close() {
      Atomics.store(ctrl, STOP, 1);
      Atomics.add(ctrl, SEQ, 1);
      Atomics.notify(ctrl, SEQ);
      await Promise.all(workers.map((w) => new Promise((resolve) => (w.threadId < 0 ? resolve(undefined) : w.once("exit", resolve)))));
    },
  };
}
