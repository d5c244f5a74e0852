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
  const v128_t minus_inf = wasm_f32x4_splat(-__builtin_inff());
  for (int b = 0; b < n; b++) {
    const float *xb = x + (long)b * h * rowstride;
    float *db = dx + (long)b * h * rowstride;
    for (int i = 0; i < oh; i++) {
      for (int j = 0; j < ow; j++) {
        long corner = (long)i * fh * rowstride + (long)j * fw * c;
        const float *gp = g + (((long)b * oh + i) * ow + j) * c;
        int ch = 0;
        for (; ch < c4; ch += 4) {
          v128_t best = minus_inf, at = wasm_i32x4_splat(-1);
          for (int p = 0; p < fh; p++)
            for (int q = 0; q < fw; q++) {
              v128_t v = wasm_v128_load(xb + corner + p * rowstride + q * c + ch);
              v128_t more = wasm_f32x4_gt(v, best);
              best = wasm_v128_bitselect(v, best, more);
              at = wasm_v128_bitselect(wasm_i32x4_splat(p * fw + q), at, more);
            }
          v128_t gv = wasm_v128_load(gp + ch);
          for (int p = 0; p < fh; p++)
            for (int q = 0; q < fw; q++)
              wasm_v128_store(db + corner + p * rowstride + q * c + ch, wasm_v128_and(gv, wasm_i32x4_eq(at, wasm_i32x4_splat(p * fw + q))));
        }
        for (; ch < c; ch++) {
          float best = -__builtin_inff();
          int at = -1;
          for (int p = 0; p < fh; p++)
            for (int q = 0; q < fw; q++) {
              float v = xb[corner + p * rowstride + q * c + ch];
              if (v > best) best = v, at = p * fw + q;
            }
          for (int p = 0; p < fh; p++)
            for (int q = 0; q < fw; q++) db[corner + p * rowstride + q * c + ch] = at == p * fw + q ? gp[ch] : 0.0f;
        }
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
 * Conv2D weight gradient, NHWC, dilation 1, any stride and padding:
 *   dw[kh][kw][ci][co] = sum over n, i, j of x[n][i*sh + kh - pt][j*sw + kw - pl][ci] * dy[n][i][j][co]
 * (taps outside the input are zero padding). dw is overwritten. One output row at a time: its dy row and
 * the few x rows it reads stay in L1 while every (kh, kw, ci-block, co-block) sweeps them, with a
 * register tile of NCI input channels x NCO float32x4 of output channels.
 */
static inline __attribute__((always_inline)) void dw_tile(const float *xrow, const float *dyrow, float *dwp, int j0, int j1,
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
 * The sum over the output rows g in [g0, g1) of the n * oh rows (g = b * oh + i); the whole gradient is
 * g0 = 0, g1 = n * oh. n is only used through g1.
 */
EXPORT(conv2d_backprop_filter)
void conv2d_backprop_filter(const float *x, const float *dy, float *dw, int g0, int g1, int h, int w, int cin, int oh, int ow,
                            int cout, int fh, int fw, int sh, int sw, int pt, int pl) {
  int total = fh * fw * cin * cout;
  for (int t = 0; t < total; t++) dw[t] = 0.0f;
  int co8 = cout & ~7, co4 = cout & ~3, ci4 = cin & ~3;
  for (int g = g0; g < g1; g++) {
    int b = g / oh, i = g - b * oh;
    {
      const float *dyrow = dy + ((long)g * ow) * cout;
      for (int kh = 0; kh < fh; kh++) {
        int r = i * sh + kh - pt;
        if (r < 0 || r >= h) continue;
        const float *xrow = x + ((long)(b * h + r) * w) * cin;
        for (int kw = 0; kw < fw; kw++) {
          int q0 = kw - pl, j0, j1;
          if (!column_range(q0, w, ow, sw, &j0, &j1)) continue;
          float *dwk = dw + (long)(kh * fw + kw) * cin * cout;
          int ci = 0;
          for (; ci < ci4; ci += 4) {
            int co = 0;
            for (; co < co8; co += 8) dw_tile(xrow + ci, dyrow + co, dwk + ci * cout + co, j0, j1, sw, q0, cin, cout, 4, 2);
            for (; co < co4; co += 4) dw_tile(xrow + ci, dyrow + co, dwk + ci * cout + co, j0, j1, sw, q0, cin, cout, 4, 1);
          }
          for (; ci < cin; ci++) {
            int co = 0;
            for (; co < co8; co += 8) dw_tile(xrow + ci, dyrow + co, dwk + ci * cout + co, j0, j1, sw, q0, cin, cout, 1, 2);
            for (; co < co4; co += 4) dw_tile(xrow + ci, dyrow + co, dwk + ci * cout + co, j0, j1, sw, q0, cin, cout, 1, 1);
          }
          /* output channels past the last multiple of 4: scalar */
          for (int co = co4; co < cout; co++) {
            for (int c2 = 0; c2 < cin; c2++) {
              float s = dwk[c2 * cout + co];
              for (int j = j0; j < j1; j++) s += xrow[(long)(j * sw + q0) * cin + c2] * dyrow[(long)j * cout + co];
              dwk[c2 * cout + co] = s;
            }
          }
        }
      }
    }
  }
}

/*
 * Conv2D forward, NHWC, dilation 1, any stride and padding, no bias:
 *   y[n][i][j][co] = sum over kh, kw, ci of x[n][i*sh + kh - pt][j*sw + kw - pl][ci] * w[kh][kw][ci][co]
 * y is overwritten. Register tile: up to 4 output pixels of one row x 2 float32x4 of output channels,
 * summed over the input channels of one filter tap at a time, over the pixels whose tap lies inside the
 * input (the padding is skipped, not multiplied).
 */
static inline __attribute__((always_inline)) void conv_tile(const float *xp, int xstep, const float *wp, float *yp,
                                                            int cin, int cout, int npix, int nco) {
  v128_t acc[4][2];
  for (int p = 0; p < npix; p++)
    for (int b = 0; b < nco; b++) acc[p][b] = wasm_v128_load(yp + p * cout + 4 * b);
  for (int ci = 0; ci < cin; ci++) {
    v128_t w0 = wasm_v128_load(wp + ci * cout);
    v128_t w1 = nco > 1 ? wasm_v128_load(wp + ci * cout + 4) : w0;
    for (int p = 0; p < npix; p++) {
      v128_t xv = wasm_f32x4_splat(xp[p * xstep + ci]);
      acc[p][0] = MADD(acc[p][0], xv, w0);
      if (nco > 1) acc[p][1] = MADD(acc[p][1], xv, w1);
    }
  }
  for (int p = 0; p < npix; p++)
    for (int b = 0; b < nco; b++) wasm_v128_store(yp + p * cout + 4 * b, acc[p][b]);
}

static inline __attribute__((always_inline)) void conv_pixels(const float *xp, int xstep, const float *wk, float *yp,
                                                              int cin, int cout, int npix) {
  int co8 = cout & ~7, co4 = cout & ~3, co = 0;
  for (; co < co8; co += 8) conv_tile(xp, xstep, wk + co, yp + co, cin, cout, npix, 2);
  for (; co < co4; co += 4) conv_tile(xp, xstep, wk + co, yp + co, cin, cout, npix, 1);
  for (; co < cout; co++) {
    for (int p = 0; p < npix; p++) {
      float s = yp[p * cout + co];
      for (int ci = 0; ci < cin; ci++) s += xp[p * xstep + ci] * wk[ci * cout + co];
      yp[p * cout + co] = s;
    }
  }
}

/* Output rows g in [g0, g1) of the n * oh rows (g = b * oh + i); the rest of y is not touched. */
EXPORT(conv2d_forward)
void conv2d_forward(const float *x, const float *wt, float *y, int g0, int g1, int h, int w, int cin, int oh, int ow, int cout,
                    int fh, int fw, int sh, int sw, int pt, int pl) {
  long first = (long)g0 * ow * cout, last = (long)g1 * ow * cout;
  for (long t = first; t < last; t++) y[t] = 0.0f;
  for (int g = g0; g < g1; g++) {
    int b = g / oh, i = g - b * oh;
    {
      float *yrow = y + ((long)g * ow) * cout;
      for (int kh = 0; kh < fh; kh++) {
        int r = i * sh + kh - pt;
        if (r < 0 || r >= h) continue;
        const float *xrow = x + ((long)(b * h + r) * w) * cin;
        for (int kw = 0; kw < fw; kw++) {
          int q0 = kw - pl, j0, j1;
          if (!column_range(q0, w, ow, sw, &j0, &j1)) continue;
          const float *wk = wt + (long)(kh * fw + kw) * cin * cout;
          int j = j0;
          for (; j + 4 <= j1; j += 4) conv_pixels(xrow + (long)(j * sw + q0) * cin, sw * cin, wk, yrow + (long)j * cout, cin, cout, 4);
          /* the last 1-3 pixels in one tile (small maps: a 4-wide row with padding leaves 3) */
          int rest = j1 - j;
          const float *xr = xrow + (long)(j * sw + q0) * cin;
          float *yr = yrow + (long)j * cout;
          if (rest == 3) conv_pixels(xr, sw * cin, wk, yr, cin, cout, 3);
          else if (rest == 2) conv_pixels(xr, sw * cin, wk, yr, cin, cout, 2);
          else if (rest == 1) conv_pixels(xr, sw * cin, wk, yr, cin, cout, 1);
        }
      }
    }
  }
}

/* dst[t] += src[t] for t < count (the partial weight gradients of a multithreaded backprop_filter). */
EXPORT(add_into)
void add_into(float *dst, const float *src, int count) {
  int t = 0;
  for (; t + 4 <= count; t += 4) wasm_v128_store(dst + t, wasm_f32x4_add(wasm_v128_load(dst + t), wasm_v128_load(src + t)));
  for (; t < count; t++) dst[t] += src[t];
}
