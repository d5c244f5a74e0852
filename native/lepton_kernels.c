/*
 * lepton's own WebAssembly SIMD128 kernels, run directly on TensorFlow.js's wasm heap.
 *
 * The module imports tfjs-backend-wasm's memory (env.memory), so every pointer below is a byte offset
 * of a tensor already on that heap: no copies in or out. It must therefore own no memory of its own:
 * no static data, no globals, no stack (leaf functions with scalar locals only); build.sh checks the
 * linked module has no data section and never touches the stack pointer.
 *
 * Single-threaded on purpose: these are memory-bound per-channel passes of batch norm (sums, means,
 * broadcast add/sub/mul/div) that XNNPACK spreads over its thread pool, where each call pays a dispatch,
 * and on a busy machine a wait for the slowest thread.
 *
 * Checked against the pure-JS backend in test/backend_native_kernels.test.ts.
 */
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name))) 

/* Rows summed into a partial before it is added to the total: error ~ (BLOCK + rows / BLOCK) ulp. */
#define BLOCK 64

/*
 * out[ch] = scale * sum_r x[r * c + ch] for r < rows; tmp: c floats of scratch.
 */
EXPORT(channel_sum)
void channel_sum(const float *x, int rows, int c, float *out, float *tmp, float scale) {
  int c4 = c & ~3;
  for (int ch = 0; ch < c; ch++) out[ch] = 0.0f;
  for (int r0 = 0; r0 < rows; r0 += BLOCK) {
    int r1 = r0 + BLOCK < rows ? r0 + BLOCK : rows;
    for (int ch = 0; ch < c; ch++) tmp[ch] = 0.0f;
    for (int r = r0; r < r1; r++) {
      const float *row = x + (long)r * c;
      int ch = 0;
      for (; ch + 16 <= c4; ch += 16) {
        v128_t t0 = wasm_v128_load(tmp + ch), t1 = wasm_v128_load(tmp + ch + 4);
        v128_t t2 = wasm_v128_load(tmp + ch + 8), t3 = wasm_v128_load(tmp + ch + 12);
        t0 = wasm_f32x4_add(t0, wasm_v128_load(row + ch));
        t1 = wasm_f32x4_add(t1, wasm_v128_load(row + ch + 4));
        t2 = wasm_f32x4_add(t2, wasm_v128_load(row + ch + 8));
        t3 = wasm_f32x4_add(t3, wasm_v128_load(row + ch + 12));
        wasm_v128_store(tmp + ch, t0);
        wasm_v128_store(tmp + ch + 4, t1);
        wasm_v128_store(tmp + ch + 8, t2);
        wasm_v128_store(tmp + ch + 12, t3);
      }
      for (; ch < c4; ch += 4) wasm_v128_store(tmp + ch, wasm_f32x4_add(wasm_v128_load(tmp + ch), wasm_v128_load(row + ch)));
      for (; ch < c; ch++) tmp[ch] += row[ch];
    }
    for (int ch = 0; ch < c; ch++) out[ch] += tmp[ch];
  }
  for (int ch = 0; ch < c; ch++) out[ch] *= scale;
}

/*
 * out[r * c + ch] = big[r * c + ch] OP vec[ch] (vec_first = 0) or vec[ch] OP big[r * c + ch] (vec_first = 1),
 * OP: 0 add, 1 sub, 2 mul, 3 div. out may be big.
 */
#define BINARY_LOOP(VOP, SOP)                                                              \
  for (int r = 0; r < rows; r++) {                                                         \
    const float *b = big + (long)r * c;                                                    \
    float *o = out + (long)r * c;                                                          \
    int ch = 0;                                                                            \
    if (vec_first) {                                                                       \
      for (; ch < c4; ch += 4) wasm_v128_store(o + ch, VOP(wasm_v128_load(vec + ch), wasm_v128_load(b + ch))); \
      for (; ch < c; ch++) o[ch] = vec[ch] SOP b[ch];                                      \
    } else {                                                                               \
      for (; ch < c4; ch += 4) wasm_v128_store(o + ch, VOP(wasm_v128_load(b + ch), wasm_v128_load(vec + ch))); \
      for (; ch < c; ch++) o[ch] = b[ch] SOP vec[ch];                                      \
    }                                                                                      \
  }

EXPORT(channel_binary)
void channel_binary(int op, const float *big, const float *vec, int rows, int c, float *out, int vec_first) {
  int c4 = c & ~3;
  switch (op) {
    case 0: BINARY_LOOP(wasm_f32x4_add, +) break;
    case 1: BINARY_LOOP(wasm_f32x4_sub, -) break;
    case 2: BINARY_LOOP(wasm_f32x4_mul, *) break;
    case 3: BINARY_LOOP(wasm_f32x4_div, /) break;
  }
}
