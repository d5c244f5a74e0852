/*
 * lepton's own WebAssembly SIMD128 kernels, run directly on TensorFlow.js's wasm heap.
 *
 * The module imports tfjs-backend-wasm's memory (env.memory), so every pointer below is a byte offset
 * of a tensor already on that heap: no copies in or out. It must therefore own no memory of its own:
 * no static data, no globals, no stack (leaf functions with scalar locals only); build.sh checks the
 * linked module has no data section and never touches the stack pointer.
 *
 * Each call runs on the thread that makes it. The per-channel passes of batch norm (sums, means,
 * broadcast add/sub/mul/div) are memory-bound and stay on one thread; the two convolutions take a range
 * of output rows, so src/backend/wasm_native_pool.ts can run ranges on several threads at once (the
 * shared-memory build), each range writing only its own rows (forward) or its own partial weight
 * gradient (add_into sums the partials in a fixed order).
 *
 * Checked against the pure-JS backend in test/backend_native_kernels.test.ts.
 */
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name))) 

/*
 * MADD(acc, a, b) = acc + a * b. Built twice (build.sh): plain SIMD128, a multiply and an add; and with
 * -DLEPTON_RELAXED, one relaxed-SIMD f32x4.relaxed_madd (a fused multiply-add where the CPU has one:
 * twice the arithmetic per instruction). Debian's clang 14 knows only that instruction's prototype,
 * f32x4.fma (0xfd 0xaf 0x01), whose builtin pushes its three operands in argument order; native/relax.js
 * rewrites each one into the standard f32x4.relaxed_madd (0xfd 0x85 0x02), which computes
 * first * second + third of what was pushed. So MADD passes (a, b, acc). The kernel tests check both builds.
 */
#ifdef LEPTON_RELAXED
typedef float lepton_f4 __attribute__((vector_size(16)));
#define MADD(acc, a, b) ((v128_t)__builtin_wasm_fma_f32x4((lepton_f4)(a), (lepton_f4)(b), (lepton_f4)(acc)))
#else
#define MADD(acc, a, b) wasm_f32x4_add((acc), wasm_f32x4_mul((a), (b)))
#endif

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

/*
 * Batch normalisation with per-channel statistics (FusedBatchNorm):
 *   out[r * c + ch] = (x[r * c + ch] - mean[ch]) * k[ch] + offset[ch], k = scale / sqrt(variance + eps)
 * (k computed by the caller). out may be x.
 */
EXPORT(channel_affine)
void channel_affine(const float *x, int rows, int c, const float *mean, const float *k, const float *offset, float *out) {
  int c4 = c & ~3;
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (long)r * c;
    float *o = out + (long)r * c;
    int ch = 0;
    for (; ch < c4; ch += 4) {
      v128_t d = wasm_f32x4_sub(wasm_v128_load(xr + ch), wasm_v128_load(mean + ch));
      wasm_v128_store(o + ch, wasm_f32x4_add(wasm_f32x4_mul(d, wasm_v128_load(k + ch)), wasm_v128_load(offset + ch)));
    }
    for (; ch < c; ch++) o[ch] = (xr[ch] - mean[ch]) * k[ch] + offset[ch];
  }
}

/*
 * Batch norm in training (src/backend/wasm_batchnorm.ts), per channel ch of x [rows, c], in row blocks as
 * channel_sum does; tmp: 2c floats of scratch.
 *   channel_sq_dev_sum:  out[ch] = sum_r (x - mean[ch])^2              (the variance, two-pass)
 *   bn_backward_sums:    sdy[ch] = sum_r dy,  sdyx[ch] = sum_r dy * (x - mean[ch])
 *   bn_backward_dx:      out = a[ch] * dy + b[ch] * (x - mean[ch]) + e[ch], p = [a | b | mean | e] (4c floats)
 */
EXPORT(channel_sq_dev_sum)
void channel_sq_dev_sum(const float *x, const float *mean, int rows, int c, float *out, float *tmp) {
  int c4 = c & ~3;
  for (int ch = 0; ch < c; ch++) out[ch] = 0.0f;
  for (int r0 = 0; r0 < rows; r0 += BLOCK) {
    int r1 = r0 + BLOCK < rows ? r0 + BLOCK : rows;
    for (int ch = 0; ch < c; ch++) tmp[ch] = 0.0f;
    for (int r = r0; r < r1; r++) {
      const float *row = x + (long)r * c;
      int ch = 0;
      for (; ch < c4; ch += 4) {
        v128_t d = wasm_f32x4_sub(wasm_v128_load(row + ch), wasm_v128_load(mean + ch));
        wasm_v128_store(tmp + ch, wasm_f32x4_add(wasm_v128_load(tmp + ch), wasm_f32x4_mul(d, d)));
      }
      for (; ch < c; ch++) {
        float d = row[ch] - mean[ch];
        tmp[ch] += d * d;
      }
    }
    for (int ch = 0; ch < c; ch++) out[ch] += tmp[ch];
  }
}

EXPORT(bn_backward_sums)
void bn_backward_sums(const float *dy, const float *x, const float *mean, int rows, int c, float *sdy, float *sdyx, float *tmp) {
  int c4 = c & ~3;
  float *t1 = tmp, *t2 = tmp + c;
  for (int ch = 0; ch < c; ch++) sdy[ch] = 0.0f, sdyx[ch] = 0.0f;
  for (int r0 = 0; r0 < rows; r0 += BLOCK) {
    int r1 = r0 + BLOCK < rows ? r0 + BLOCK : rows;
    for (int ch = 0; ch < c; ch++) t1[ch] = 0.0f, t2[ch] = 0.0f;
    for (int r = r0; r < r1; r++) {
      const float *g = dy + (long)r * c, *row = x + (long)r * c;
      int ch = 0;
      for (; ch < c4; ch += 4) {
        v128_t gv = wasm_v128_load(g + ch);
        v128_t d = wasm_f32x4_sub(wasm_v128_load(row + ch), wasm_v128_load(mean + ch));
        wasm_v128_store(t1 + ch, wasm_f32x4_add(wasm_v128_load(t1 + ch), gv));
        wasm_v128_store(t2 + ch, wasm_f32x4_add(wasm_v128_load(t2 + ch), wasm_f32x4_mul(gv, d)));
      }
      for (; ch < c; ch++) {
        t1[ch] += g[ch];
        t2[ch] += g[ch] * (row[ch] - mean[ch]);
      }
    }
    for (int ch = 0; ch < c; ch++) sdy[ch] += t1[ch], sdyx[ch] += t2[ch];
  }
}

EXPORT(bn_backward_dx)
void bn_backward_dx(const float *dy, const float *x, const float *p, int rows, int c, float *out) {
  int c4 = c & ~3;
  const float *a = p, *b = p + c, *mean = p + 2 * c, *e = p + 3 * c;
  for (int r = 0; r < rows; r++) {
    const float *g = dy + (long)r * c, *row = x + (long)r * c;
    float *o = out + (long)r * c;
    int ch = 0;
    for (; ch < c4; ch += 4) {
      v128_t d = wasm_f32x4_sub(wasm_v128_load(row + ch), wasm_v128_load(mean + ch));
      v128_t v = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(a + ch), wasm_v128_load(g + ch)), wasm_f32x4_mul(wasm_v128_load(b + ch), d));
      wasm_v128_store(o + ch, wasm_f32x4_add(v, wasm_v128_load(e + ch)));
    }
    for (; ch < c; ch++) o[ch] = (a[ch] * g[ch] + b[ch] * (row[ch] - mean[ch])) + e[ch];
  }
}

/*
 * Vectors of 1-4 channels: the last one of a row whose channel count is not a multiple of 4 (LeNet's 6)
 * is loaded and stored lane by lane, so nothing past the row is read or written.
 */
static inline __attribute__((always_inline)) v128_t load_lanes(const float *p, int lanes) {
  if (lanes == 4) return wasm_v128_load(p);
  if (lanes == 1) return wasm_v128_load32_zero(p);
  v128_t v = wasm_v128_load64_zero(p);
  return lanes == 3 ? wasm_v128_load32_lane(p + 2, v, 2) : v;
}

static inline __attribute__((always_inline)) void store_lanes(float *p, v128_t v, int lanes) {
  if (lanes == 4) {
    wasm_v128_store(p, v);
  } else if (lanes == 1) {
    wasm_v128_store32_lane(p, v, 0);
  } else {
    wasm_v128_store64_lane(p, v, 0);
    if (lanes == 3) wasm_v128_store32_lane(p + 2, v, 2);
  }
}

/* One window's gradient for LANES channels: g to the first strict maximum from -inf, 0 elsewhere. */
static inline __attribute__((always_inline)) void pool_window(const float *xp, const float *gp, float *dp, long rowstride, int c,
                                                              int fh, int fw, int lanes) {
  v128_t best = wasm_f32x4_splat(-__builtin_inff()), at = wasm_i32x4_splat(-1);
  for (int p = 0; p < fh; p++)
    for (int q = 0; q < fw; q++) {
      v128_t v = load_lanes(xp + p * rowstride + q * c, lanes);
      v128_t more = wasm_f32x4_gt(v, best);
      best = wasm_v128_bitselect(v, best, more);
      at = wasm_v128_bitselect(wasm_i32x4_splat(p * fw + q), at, more);
    }
  v128_t gv = load_lanes(gp, lanes);
  for (int p = 0; p < fh; p++)
    for (int q = 0; q < fw; q++) store_lanes(dp + p * rowstride + q * c, wasm_v128_and(gv, wasm_i32x4_eq(at, wasm_i32x4_splat(p * fw + q))), lanes);
}

/*
 * MaxPoolGrad for windows that tile the input (filter = stride, no padding), NHWC: each window's gradient
 * g goes to the first strict maximum of its fh x fw inputs, compared from -infinity, as TensorFlow.js's
 * pure-JS backend does (a NaN is never the maximum; a window of only NaN or -infinity gets no gradient).
 * Every element of dx is written: the window's other inputs and the rows and columns past the last window
 * get 0.
 */
static inline __attribute__((always_inline)) void pool_windows(const float *x, const float *g, float *dx, int n, int h, int w,
                                                               int c, int fh, int fw) {
  int oh = h / fh, ow = w / fw, c4 = c & ~3;
  long rowstride = (long)w * c;
  for (int b = 0; b < n; b++) {
    const float *xb = x + (long)b * h * rowstride;
    float *db = dx + (long)b * h * rowstride;
    for (int i = 0; i < oh; i++) {
      for (int j = 0; j < ow; j++) {
        long corner = (long)i * fh * rowstride + (long)j * fw * c;
        const float *gp = g + (((long)b * oh + i) * ow + j) * c;
        int ch = 0;
        for (; ch < c4; ch += 4) pool_window(xb + corner + ch, gp + ch, db + corner + ch, rowstride, c, fh, fw, 4);
        int rest = c - c4;
        if (rest == 3) pool_window(xb + corner + ch, gp + ch, db + corner + ch, rowstride, c, fh, fw, 3);
        else if (rest == 2) pool_window(xb + corner + ch, gp + ch, db + corner + ch, rowstride, c, fh, fw, 2);
        else if (rest == 1) pool_window(xb + corner + ch, gp + ch, db + corner + ch, rowstride, c, fh, fw, 1);
      }
      /* the columns past the last window, in this window row */
      for (int p = 0; p < fh; p++) {
        float *tail = db + (long)(i * fh + p) * rowstride + (long)ow * fw * c;
        for (long t = 0; t < (long)(w - ow * fw) * c; t++) tail[t] = 0.0f;
      }
    }
    /* the rows past the last window */
    for (long t = (long)oh * fh * rowstride; t < (long)h * rowstride; t++) db[t] = 0.0f;
  }
}

EXPORT(max_pool_grad_tiled)
void max_pool_grad_tiled(const float *x, const float *g, float *dx, int n, int h, int w, int c, int fh, int fw) {
  if (fh == 2 && fw == 2) pool_windows(x, g, dx, n, h, w, c, 2, 2); /* the common case, unrolled */
  else pool_windows(x, g, dx, n, h, w, c, fh, fw);
}

/*
 * MaxPool for windows that tile the input (filter = stride, no padding), NHWC: out = the largest of each
 * window's fh x fw inputs compared from -infinity, as the pure-JS backend does (NaN never wins; a window
 * of only NaN gives -infinity): the same rule as max_pool_grad_tiled, so the gradient goes to the value
 * the forward pass returned.
 */
static inline __attribute__((always_inline)) void pool_max_window(const float *xp, float *op, long rowstride, int c, int fh, int fw, int lanes) {
  v128_t best = wasm_f32x4_splat(-__builtin_inff());
  for (int p = 0; p < fh; p++)
    for (int q = 0; q < fw; q++) {
      v128_t v = load_lanes(xp + p * rowstride + q * c, lanes);
      best = wasm_v128_bitselect(v, best, wasm_f32x4_gt(v, best));
    }
  store_lanes(op, best, lanes);
}

static inline __attribute__((always_inline)) void pool_max(const float *x, float *out, int n, int h, int w, int c, int fh, int fw) {
  int oh = h / fh, ow = w / fw, c4 = c & ~3, rest = c - c4;
  long rowstride = (long)w * c;
  for (int b = 0; b < n; b++)
    for (int i = 0; i < oh; i++)
      for (int j = 0; j < ow; j++) {
        const float *xp = x + ((long)b * h + (long)i * fh) * rowstride + (long)j * fw * c;
        float *op = out + (((long)b * oh + i) * ow + j) * c;
        int ch = 0;
        for (; ch < c4; ch += 4) pool_max_window(xp + ch, op + ch, rowstride, c, fh, fw, 4);
        if (rest == 3) pool_max_window(xp + ch, op + ch, rowstride, c, fh, fw, 3);
        else if (rest == 2) pool_max_window(xp + ch, op + ch, rowstride, c, fh, fw, 2);
        else if (rest == 1) pool_max_window(xp + ch, op + ch, rowstride, c, fh, fw, 1);
      }
}

EXPORT(max_pool_tiled)
void max_pool_tiled(const float *x, float *out, int n, int h, int w, int c, int fh, int fw) {
  if (fh == 2 && fw == 2) pool_max(x, out, n, h, w, c, 2, 2); /* the common case, unrolled */
  else pool_max(x, out, n, h, w, c, fh, fw);
}

/* One register tile of backprop_filter_rows (below): NCI input channels x NCO float32x4 over one row's pixels. */
static inline __attribute__((always_inline)) void dw_row_tile(const float *xrow, const float *dyrow, float *dwp, int j0, int j1,
                                                              int sw, int q0, int cin, int cout, int nci, int nco) {
  v128_t acc[4][2];
  for (int a = 0; a < nci; a++)
    for (int b = 0; b < nco; b++) acc[a][b] = wasm_v128_load(dwp + a * cout + 4 * b);
  for (int j = j0; j < j1; j++) {
    const float *xp = xrow + (long)(j * sw + q0) * cin;
    const float *dp = dyrow + (long)j * cout;
    v128_t d0 = wasm_v128_load(dp);
    v128_t d1 = nco > 1 ? wasm_v128_load(dp + 4) : d0;
    for (int a = 0; a < nci; a++) {
      v128_t xv = wasm_f32x4_splat(xp[a]);
      acc[a][0] = MADD(acc[a][0], xv, d0);
      if (nco > 1) acc[a][1] = MADD(acc[a][1], xv, d1);
    }
  }
  for (int a = 0; a < nci; a++)
    for (int b = 0; b < nco; b++) wasm_v128_store(dwp + a * cout + 4 * b, acc[a][b]);
}

/*
 * Conv2D weight gradient, NHWC, dilation 1, any stride and padding:
 *   dw[kh][kw][ci][co] = sum over n, i, j of x[n][i*sh + kh - pt][j*sw + kw - pl][ci] * dy[n][i][j][co]
 * (taps outside the input are zero padding: skipped). dw is overwritten. The output rows are taken in
 * blocks small enough to stay in L1/L2 (their dy rows and the x rows they read); for each block, every
 * (kh, kw, ci-block, co-block) keeps a register tile of NCI input channels x NCO vectors of output
 * channels (the last with LANES lanes) over all the block's rows, so a small map (4x4) does not reload
 * the tile every 4 pixels.
 */
static inline __attribute__((always_inline)) void dw_tile(const float *x, const float *dy, float *dwp, int gb, int ge, int b0, int i0,
                                                          int h, int w, int cin, int oh, int ow, int cout, int sh, int sw, int pt,
                                                          int kh, int q0, int j0, int j1, int nci, int nco, int lanes) {
  v128_t acc[4][2];
  for (int a = 0; a < nci; a++) {
    acc[a][0] = load_lanes(dwp + a * cout, nco > 1 ? 4 : lanes);
    if (nco > 1) acc[a][1] = load_lanes(dwp + a * cout + 4, lanes);
  }
  const long xstep = (long)sw * cin;
  const int count = j1 - j0;
  int b = b0, i = i0;
  for (int g = gb; g < ge; g++) {
    int r = i * sh + kh - pt;
    if (r >= 0 && r < h) {
      const float *xp = x + ((long)(b * h + r) * w + j0 * sw + q0) * cin;
      const float *dp = dy + ((long)g * ow + j0) * cout;
      for (int t = 0; t < count; t++, xp += xstep, dp += cout) {
        v128_t d0 = load_lanes(dp, nco > 1 ? 4 : lanes);
        v128_t d1 = nco > 1 ? load_lanes(dp + 4, lanes) : d0;
        for (int a = 0; a < nci; a++) {
          v128_t xv = wasm_v128_load32_splat(xp + a);
          acc[a][0] = MADD(acc[a][0], xv, d0);
          if (nco > 1) acc[a][1] = MADD(acc[a][1], xv, d1);
        }
      }
    }
    if (++i == oh) {
      i = 0;
      b++;
    }
  }
  for (int a = 0; a < nci; a++) {
    store_lanes(dwp + a * cout, acc[a][0], nco > 1 ? 4 : lanes);
    if (nco > 1) store_lanes(dwp + a * cout + 4, acc[a][1], lanes);
  }
}

/* Every output-channel block of one ci-block, NCI input channels wide: 8 at a time, then 4, then 5-7 or 1-3. */
#define DW_CO_BLOCKS(NCI)                                                                                                     \
  {                                                                                                                           \
    int co = 0;                                                                                                               \
    for (; co + 8 <= cout; co += 8) dw_tile(x + ci, dy + co, dwk + ci * cout + co, gb, ge, b0, i0, h, w, cin, oh, ow, cout, sh, sw, pt, kh, q0, j0, j1, NCI, 2, 4); \
    int rest = cout - co;                                                                                                     \
    float *dwp = dwk + ci * cout + co;                                                                                        \
    const float *dyp = dy + co;                                                                                               \
    if (rest == 4) dw_tile(x + ci, dyp, dwp, gb, ge, b0, i0, h, w, cin, oh, ow, cout, sh, sw, pt, kh, q0, j0, j1, NCI, 1, 4); \
    else if (rest > 4) {                                                                                                      \
      if (rest == 7) dw_tile(x + ci, dyp, dwp, gb, ge, b0, i0, h, w, cin, oh, ow, cout, sh, sw, pt, kh, q0, j0, j1, NCI, 2, 3); \
      else if (rest == 6) dw_tile(x + ci, dyp, dwp, gb, ge, b0, i0, h, w, cin, oh, ow, cout, sh, sw, pt, kh, q0, j0, j1, NCI, 2, 2); \
      else dw_tile(x + ci, dyp, dwp, gb, ge, b0, i0, h, w, cin, oh, ow, cout, sh, sw, pt, kh, q0, j0, j1, NCI, 2, 1);          \
    } else if (rest == 3) dw_tile(x + ci, dyp, dwp, gb, ge, b0, i0, h, w, cin, oh, ow, cout, sh, sw, pt, kh, q0, j0, j1, NCI, 1, 3); \
    else if (rest == 2) dw_tile(x + ci, dyp, dwp, gb, ge, b0, i0, h, w, cin, oh, ow, cout, sh, sw, pt, kh, q0, j0, j1, NCI, 1, 2); \
    else if (rest == 1) dw_tile(x + ci, dyp, dwp, gb, ge, b0, i0, h, w, cin, oh, ow, cout, sh, sw, pt, kh, q0, j0, j1, NCI, 1, 1); \
  }

/*
 * The output columns j in [*j0, *j1) whose input column q = j*sw + q0 (q0 = kw - pl, the filter tap's
 * offset) lies inside [0, w); 0 when there are none (the tap only ever sees padding).
 */
static inline int column_range(int q0, int w, int ow, int sw, int *j0, int *j1) {
  *j0 = q0 >= 0 ? 0 : (-q0 + sw - 1) / sw;
  *j1 = (w - 1 - q0) >= 0 ? (w - 1 - q0) / sw + 1 : 0;
  if (*j1 > ow) *j1 = ow;
  return *j0 < *j1;
}

/*
 * The weight gradient one output row at a time, for whole tiles only (cin a multiple of 4, cout of 8): its
 * dy row and the few x rows it reads stay in L1 while every (kh, kw, ci-block, co-block) sweeps them, with
 * a register tile of 4 input channels x 2 float32x4 of output channels. Measured single-threaded on
 * ResNet-9's layers, this order is 5-20% faster than the row blocks below, which win (2-5x) where the
 * channels do not fill whole tiles (3 input channels, LeNet's 6 output channels).
 */
static void backprop_filter_rows(const float *x, const float *dy, float *dw, int g0, int g1, int h, int w, int cin, int oh, int ow,
                                 int cout, int fh, int fw, int sh, int sw, int pt, int pl) {
  for (int g = g0; g < g1; g++) {
    int b = g / oh, i = g - b * oh;
    const float *dyrow = dy + ((long)g * ow) * cout;
    for (int kh = 0; kh < fh; kh++) {
      int r = i * sh + kh - pt;
      if (r < 0 || r >= h) continue;
      const float *xrow = x + ((long)(b * h + r) * w) * cin;
      for (int kw = 0; kw < fw; kw++) {
        int q0 = kw - pl, j0, j1;
        if (!column_range(q0, w, ow, sw, &j0, &j1)) continue;
        float *dwk = dw + (long)(kh * fw + kw) * cin * cout;
        for (int ci = 0; ci < cin; ci += 4)
          for (int co = 0; co < cout; co += 8) dw_row_tile(xrow + ci, dyrow + co, dwk + ci * cout + co, j0, j1, sw, q0, cin, cout, 4, 2);
      }
    }
  }
}

/* Bytes of dy and x rows one block of output rows of the weight gradient may span (L2 holds 256 KiB or more). */
#define DW_BLOCK_BYTES 65536

/*
 * The sum over the output rows g in [g0, g1) of the n * oh rows (g = b * oh + i); the whole gradient is
 * g0 = 0, g1 = n * oh. n is only used through g1.
 */
EXPORT(conv2d_backprop_filter)
void conv2d_backprop_filter(const float *x, const float *dy, float *dw, int g0, int g1, int h, int w, int cin, int oh, int ow,
                            int cout, int fh, int fw, int sh, int sw, int pt, int pl) {
  int total = fh * fw * cin * cout;
  for (int t = 0; t < total; t++) dw[t] = 0.0f;
  if (cin % 4 == 0 && cout % 8 == 0) {
    backprop_filter_rows(x, dy, dw, g0, g1, h, w, cin, oh, ow, cout, fh, fw, sh, sw, pt, pl);
    return;
  }
  long row_bytes = 4L * ((long)ow * cout + (long)sh * w * cin);
  int block = row_bytes >= DW_BLOCK_BYTES ? 1 : (int)(DW_BLOCK_BYTES / row_bytes);
  for (int gb = g0; gb < g1; gb += block) {
    int ge = gb + block < g1 ? gb + block : g1;
    int b0 = gb / oh, i0 = gb - b0 * oh;
    for (int kh = 0; kh < fh; kh++) {
      for (int kw = 0; kw < fw; kw++) {
        int q0 = kw - pl, j0, j1;
        if (!column_range(q0, w, ow, sw, &j0, &j1)) continue;
        float *dwk = dw + (long)(kh * fw + kw) * cin * cout;
        int ci = 0;
        for (; ci + 4 <= cin; ci += 4) DW_CO_BLOCKS(4)
        int rest = cin - ci;
        if (rest == 3) DW_CO_BLOCKS(3)
        else if (rest == 2) DW_CO_BLOCKS(2)
        else if (rest == 1) DW_CO_BLOCKS(1)
      }
    }
  }
}

/*
 * acc[p] += sum over t < count of x_p[t] * w[t * cout .. + 8] for the tile's pixels p: the inner loop of
 * conv_tile, over one tap's input channels, or over a whole filter row's taps where they are contiguous.
 */
static inline __attribute__((always_inline)) void tile_sum(v128_t acc[4][2], const float *x0, const float *x1, const float *x2,
                                                           const float *x3, const float *wp, int count, int cout, int npix,
                                                           int nco, int lanes) {
  for (int t = 0; t < count; t++) {
    v128_t w0 = load_lanes(wp + (long)t * cout, nco > 1 ? 4 : lanes);
    v128_t w1 = nco > 1 ? load_lanes(wp + (long)t * cout + 4, lanes) : w0;
    v128_t xv = wasm_v128_load32_splat(x0 + t);
    acc[0][0] = MADD(acc[0][0], xv, w0);
    if (nco > 1) acc[0][1] = MADD(acc[0][1], xv, w1);
    if (npix > 1) {
      xv = wasm_v128_load32_splat(x1 + t);
      acc[1][0] = MADD(acc[1][0], xv, w0);
      if (nco > 1) acc[1][1] = MADD(acc[1][1], xv, w1);
    }
    if (npix > 2) {
      xv = wasm_v128_load32_splat(x2 + t);
      acc[2][0] = MADD(acc[2][0], xv, w0);
      if (nco > 1) acc[2][1] = MADD(acc[2][1], xv, w1);
    }
    if (npix > 3) {
      xv = wasm_v128_load32_splat(x3 + t);
      acc[3][0] = MADD(acc[3][0], xv, w0);
      if (nco > 1) acc[3][1] = MADD(acc[3][1], xv, w1);
    }
  }
}

/*
 * Conv2D forward, NHWC, dilation 1, any stride and padding, no bias:
 *   y[n][i][j][co] = sum over kh, kw, ci of x[n][i*sh + kh - pt][j*sw + kw - pl][ci] * w[kh][kw][ci][co]
 * y's rows [g0, g1) are overwritten. Register tile: up to 4 output pixels of one row x 2 vectors of output
 * channels (the last with LANES lanes), summed over every tap and input channel before one store. Filter
 * rows that fall in the padding are skipped; a tap whose column falls in the padding reads `zeros` (cin
 * zero floats) instead of x for that pixel, so the inner loop never branches.
 *
 * A tile whose pixels see every tap of a filter row inside the input (no column padding) reads each filter
 * row as one run of fw * cin floats per pixel (x[q..q+fw-1][ci] and w[kh][kw][ci] are both contiguous in
 * (kw, ci)): one loop instead of fw short ones, which matters for few input channels (3: ResNet-9's and
 * LeNet's first layers).
 */
static inline __attribute__((always_inline)) void conv_tile(const float *x, const float *wt, float *yp, const float *zeros, int b, int i,
                                                            int j, int h, int w, int cin, int cout, int fh, int fw, int sh, int sw,
                                                            int pt, int pl, int npix, int nco, int lanes) {
  v128_t acc[4][2];
  for (int p = 0; p < npix; p++) acc[p][0] = acc[p][1] = wasm_f32x4_splat(0.0f);
  int q = j * sw - pl;
  /* taps per run: a whole filter row where every pixel sees all of it, else one */
  int run = q >= 0 && q + (npix - 1) * sw + fw <= w ? fw : 1;
  int count = run * cin;
  for (int kh = 0; kh < fh; kh++) {
    int r = i * sh + kh - pt;
    if (r < 0 || r >= h) continue;
    const float *xrow = x + ((long)(b * h + r) * w) * cin;
    const float *wrow = wt + (long)kh * fw * cin * cout;
    for (int kw = 0; kw < fw; kw += run) {
      int c = q + kw;
      if (c >= w || c + (npix - 1) * sw < 0) continue; /* every pixel of the tile is in the padding for this tap */
      const float *x0 = c >= 0 && c < w ? xrow + (long)c * cin : zeros;
      c += sw;
      const float *x1 = c >= 0 && c < w ? xrow + (long)c * cin : zeros;
      c += sw;
      const float *x2 = c >= 0 && c < w ? xrow + (long)c * cin : zeros;
      c += sw;
      const float *x3 = c >= 0 && c < w ? xrow + (long)c * cin : zeros;
      tile_sum(acc, x0, x1, x2, x3, wrow + (long)kw * cin * cout, count, cout, npix, nco, lanes);
    }
  }
  for (int p = 0; p < npix; p++) {
    store_lanes(yp + p * cout, acc[p][0], nco > 1 ? 4 : lanes);
    if (nco > 1) store_lanes(yp + p * cout + 4, acc[p][1], lanes);
  }
}

/* One output row's pixels for one block of output channels: tiles of 4, then the last 1-3 in one tile. */
static inline __attribute__((always_inline)) void conv_row(const float *x, const float *wt, float *yrow, const float *zeros, int b, int i,
                                                           int h, int w, int cin, int ow, int cout, int fh, int fw, int sh, int sw,
                                                           int pt, int pl, int nco, int lanes) {
  int j = 0;
  for (; j + 4 <= ow; j += 4) conv_tile(x, wt, yrow + (long)j * cout, zeros, b, i, j, h, w, cin, cout, fh, fw, sh, sw, pt, pl, 4, nco, lanes);
  int rest = ow - j;
  float *yp = yrow + (long)j * cout;
  if (rest == 3) conv_tile(x, wt, yp, zeros, b, i, j, h, w, cin, cout, fh, fw, sh, sw, pt, pl, 3, nco, lanes);
  else if (rest == 2) conv_tile(x, wt, yp, zeros, b, i, j, h, w, cin, cout, fh, fw, sh, sw, pt, pl, 2, nco, lanes);
  else if (rest == 1) conv_tile(x, wt, yp, zeros, b, i, j, h, w, cin, cout, fh, fw, sh, sw, pt, pl, 1, nco, lanes);
}

/* Output rows g in [g0, g1) of the n * oh rows (g = b * oh + i); the rest of y is not touched. */
EXPORT(conv2d_forward)
void conv2d_forward(const float *x, const float *wt, float *y, int g0, int g1, int h, int w, int cin, int oh, int ow, int cout,
                    int fh, int fw, int sh, int sw, int pt, int pl, const float *zeros) {
  for (int g = g0; g < g1; g++) {
    int b = g / oh, i = g - b * oh;
    float *yrow = y + ((long)g * ow) * cout;
    int co = 0;
    for (; co + 8 <= cout; co += 8) conv_row(x, wt + co, yrow + co, zeros, b, i, h, w, cin, ow, cout, fh, fw, sh, sw, pt, pl, 2, 4);
    int rest = cout - co;
    const float *wc = wt + co;
    float *yc = yrow + co;
    if (rest == 7) conv_row(x, wc, yc, zeros, b, i, h, w, cin, ow, cout, fh, fw, sh, sw, pt, pl, 2, 3);
    else if (rest == 6) conv_row(x, wc, yc, zeros, b, i, h, w, cin, ow, cout, fh, fw, sh, sw, pt, pl, 2, 2);
    else if (rest == 5) conv_row(x, wc, yc, zeros, b, i, h, w, cin, ow, cout, fh, fw, sh, sw, pt, pl, 2, 1);
    else if (rest == 4) conv_row(x, wc, yc, zeros, b, i, h, w, cin, ow, cout, fh, fw, sh, sw, pt, pl, 1, 4);
    else if (rest == 3) conv_row(x, wc, yc, zeros, b, i, h, w, cin, ow, cout, fh, fw, sh, sw, pt, pl, 1, 3);
    else if (rest == 2) conv_row(x, wc, yc, zeros, b, i, h, w, cin, ow, cout, fh, fw, sh, sw, pt, pl, 1, 2);
    else if (rest == 1) conv_row(x, wc, yc, zeros, b, i, h, w, cin, ow, cout, fh, fw, sh, sw, pt, pl, 1, 1);
  }
}

/*
 * Rows [m0, m1) of C = A B, row-major, A [m][k], B [k][n] (no transposes): a 1x1 convolution whose pixels
 * are A's rows, so the same register tiles (4 rows of C x 8 columns) and partial vectors serve the dense
 * layers. No tap falls in padding, so `zeros` is never read (A stands in for it).
 */
EXPORT(matmul_rows)
void matmul_rows(const float *a, const float *b, float *c, int m0, int m1, int k, int n) {
  if (m1 <= m0) return;
  conv2d_forward(a + (long)m0 * k, b, c + (long)m0 * n, 0, 1, 1, m1 - m0, k, 1, m1 - m0, n, 1, 1, 1, 1, 0, 0, a);
}

/* ReLU: out = max(x, 0) as Math.max gives it (TensorFlow.js's pure-JS backend): NaN stays NaN, -0 becomes 0. out may be x. */
EXPORT(relu)
void relu(const float *x, float *out, int count) {
  const v128_t zero = wasm_f32x4_splat(0.0f);
  int t = 0;
  for (; t + 4 <= count; t += 4) wasm_v128_store(out + t, wasm_f32x4_max(wasm_v128_load(x + t), zero));
  for (; t < count; t++) out[t] = x[t] > 0.0f || x[t] != x[t] ? x[t] : 0.0f;
}

/*
 * ReLU's gradient in one pass: out = dy * step(x), step(x) = 1 where x > 0, NaN where x is NaN, else 0
 * (TensorFlow.js's Step, so the product is exactly its Multiply: 0 * Inf and NaN stay NaN, -dy * 0 is -0).
 */
EXPORT(relu_grad)
void relu_grad(const float *dy, const float *x, float *out, int count) {
  const v128_t zero = wasm_f32x4_splat(0.0f), one = wasm_f32x4_splat(1.0f), nan = wasm_f32x4_splat(__builtin_nanf(""));
  int t = 0;
  for (; t + 4 <= count; t += 4) {
    v128_t xv = wasm_v128_load(x + t);
    v128_t st = wasm_v128_bitselect(one, zero, wasm_f32x4_gt(xv, zero));
    st = wasm_v128_bitselect(nan, st, wasm_f32x4_ne(xv, xv));
    wasm_v128_store(out + t, wasm_f32x4_mul(wasm_v128_load(dy + t), st));
  }
  for (; t < count; t++) {
    float xv = x[t];
    out[t] = dy[t] * (xv != xv ? __builtin_nanf("") : xv > 0.0f ? 1.0f : 0.0f);
  }
}

/* dst[t] += src[t] for t < count (the partial weight gradients of a multithreaded backprop_filter). */
EXPORT(add_into)
void add_into(float *dst, const float *src, int count) {
  int t = 0;
  for (; t + 4 <= count; t += 4) wasm_v128_store(dst + t, wasm_f32x4_add(wasm_v128_load(dst + t), wasm_v128_load(src + t)));
  for (; t < count; t++) dst[t] += src[t];
}
