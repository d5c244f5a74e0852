/**
 * Backend choice: tfjs-node-gpu, then tfjs-node, then WebAssembly (with lepton's training kernels),
 * then pure JS. (Stub: the speed work fills this in.)
 */
import * as tf from "@tensorflow/tfjs";

export interface BackendInfo {
  /** The tfjs backend name in use ("tensorflow", "wasm", "cpu"). */
  name: string;
  /** Why each better backend was not used. */
  skipped: { name: string; reason: string }[];
}

let readyPromise: Promise<BackendInfo> | undefined;

/** Choose and initialise the best available backend once; every lepton entry point awaits this. */
export function ready(): Promise<BackendInfo> {
  if (!readyPromise) {
    readyPromise = (async () => {
      await tf.ready();
      return { name: tf.getBackend(), skipped: [] };
    })();
  }
  return readyPromise;
}
