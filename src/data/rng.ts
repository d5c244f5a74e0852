/**
 * Seeded pseudo-random numbers for shuffling, splitting, augmentation and synthetic data.
 * mulberry32: small, fast, and the same sequence on every platform for a given seed.
 */

/** A function returning uniform numbers in [0, 1). */
export type Rng = () => number;

/** A seeded generator; without a seed, one seeded from Math.random. */
export function makeRng(seed?: number): Rng {
  let a = (seed === undefined ? Math.floor(Math.random() * 0x100000000) : mixSeed(seed)) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Hash one or more numbers into a 32-bit seed (so seed+stream pairs give unrelated sequences). */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    // Fold doubles (negative or fractional seeds) into two 32-bit words.
    const lo = Math.floor(p) >>> 0;
    const hi = Math.floor(p / 4294967296) >>> 0;
    for (const w of [lo, hi]) {
      h = Math.imul(h ^ w, 0x01000193) >>> 0;
      h ^= h >>> 13;
      h = Math.imul(h, 0x5bd1e995) >>> 0;
    }
  }
  return h >>> 0;
}

/** Shuffle in place (Fisher-Yates). */
export function shuffleInPlace<T extends { length: number; [i: number]: any }>(arr: T, rng: Rng): T {
  for (let i = arr.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = arr[i];
    arr[i] = arr[j];
    arr[j] = t;
  }
  return arr;
}

/** A standard normal sample (Box-Muller). */
export function gaussian(rng: Rng): number {
  let u = 0;
  while (u === 0) u = rng();
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
