/** Helpers the model builders share: reproducible initial weights and checked sizes. */
import * as tf from "@tensorflow/tfjs";

/**
 * Layer arguments that make initial weights reproducible: with a `seed`, the n-th layer built gets
 * Glorot-uniform kernels (tfjs-layers' default) seeded with seed + n, so the same seed builds the same
 * network (and, with lepton.train's `seed`, the same training run). Without one, tfjs picks at random.
 */
export function seededLayers(seed: number | undefined, fn: string): () => { kernelInitializer?: ReturnType<typeof tf.initializers.glorotUniform>; seed?: number } {
  if (seed !== undefined && !Number.isInteger(seed)) throw new Error(`${fn}: seed must be a whole number; got ${seed}.`);
  let n = 0;
  return () => {
    if (seed === undefined) return {};
    const layerSeed = seed + n++;
    return { kernelInitializer: tf.initializers.glorotUniform({ seed: layerSeed }), seed: layerSeed };
  };
}

export function positiveInt(value: number, what: string, fn: string): void {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${fn}: ${what} must be a whole number > 0; got ${value}.`);
}

