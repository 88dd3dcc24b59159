/* Mamba-1 selective scan, forward only (inference), float32, for CPUs: what engine/scan.py's
   `selective_scan_reference` computes, with delta's low-rank projection (dt_proj) and SasMamba's scan orders
   folded in, so that neither delta nor any reordered copy of the input is ever written to memory.

   For every direction k, batch row b, channel c < d and state n < N, over steps l < L:
       delta_l = softplus(dt_bias + dt_w . x_l[0:R])                              (R = dt rank)
       h_l = exp(delta_l A) h_{l-1} + delta_l B_l u_l,    B_l = x_l[R:R+N], C_l = x_l[R+N:R+2N]
       y_l += <C_l, h_l> + D u_l
   Step l of direction k sits at position p = (m / order[k][0]) order[k][1] + (m % order[k][0]) order[k][2],
   m = l, or L - 1 - l where bit k of `reverse` is set: SasMamba's frame-major, joint-major and reversed orders
   over its (T, J) grid are all of this form, and so is a plain time-major layout (order (L, 0, 1)).
   Direction k's input is u[k] + b u_bs + p u_ps + c, its projection row x[k] + b x_bs + p x_ps, its output
   y[k] + b y_bs + p y_ps + c, accumulated into (directions may share one output). Float32 throughout; A (K, N, d)
   <= 0, so delta A <= 0 and no exponential overflows; dt_w (K, R, d); dt_bias (K, d); D (K, d) or NULL.

   Work unit: W channels of one (b, k) row for a chunk of TCHUNK steps, N x W states in registers. The chunk's
   delta and inputs are computed first, so each step's exponentials wait on nothing but loads. Chunks go in step
   order over all rows and directions. Equal to the reference to float rounding (exp and log here are Cephes'
   polynomials, about 1 ulp); tests hold them so. */

#include <stdlib.h>

#include "vec.h"

/* exp(x): Cephes expf's range reduction and polynomial (about 1 ulp). AVX-512 scales by 2^k with vscalefps,
   which also gives 0 for large negative x; elsewhere x is clamped to [-87, 88] before 2^k is built by hand. */
INLINE vf exp_approx(vf x) {
#if defined(__AVX512F__) && VEC_W == 16
    vf k = (vf)_mm512_roundscale_ps((__m512)(x * 1.44269504088896341f), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
#else
    x = vmax(vmin(x, splat(88.0f)), splat(-87.0f));
    vf k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  /* round to nearest: 1.5 * 2^23 */
#endif
    vf r = x - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    vf p = splat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
#if defined(__AVX512F__) && VEC_W == 16
    return (vf)_mm512_scalef_ps((__m512)p, (__m512)k);
#else
    vi e = (__builtin_convertvector(k, vi) + 127) << 23;
    return p * (vf)e;
#endif
}

/* log(x) for normal x > 0, Cephes logf's polynomial (about 1 ulp). */
INLINE vf log_approx(vf x) {
    vi bits = (vi)x;
    vi e = ((bits >> 23) & 0xff) - 126;
    vf m = (vf)((bits & 0x007fffff) | 0x3f000000); /* [0.5, 1) */
    vi small = m < 0.707106781186547524f;  /* -1 where true */
    e += small;
    m = vselect(small, m + m - 1.0f, m - 1.0f);
    vf z = m * m;
    vf p = splat(7.0376836292e-2f);
    p = p * m - 1.1514610310e-1f;
    p = p * m + 1.1676998740e-1f;
    p = p * m - 1.2420140846e-1f;
    p = p * m + 1.4249322787e-1f;
    p = p * m - 1.6668057665e-1f;
    p = p * m + 2.0000714765e-1f;
    p = p * m - 2.4999993993e-1f;
    p = p * m + 3.3333331174e-1f;
    vf fe = __builtin_convertvector(e, vf);
    vf y = p * m * z + fe * -2.12194440e-4f - 0.5f * z;
    return m + y + fe * 0.693359375f;
}

/* torch's softplus: log(1 + e^x), x itself above 20. log1p(z) = log(w) z / (w - 1), w = 1 + z, keeps the
   precision of small z (Goldberg's trick). */
INLINE vf softplus(vf x) {
    vf z = exp_approx(vmin(x, -x)); /* e^-|x| in (0, 1] */
    vf w = 1.0f + z;
    vf l = vselect(w == 1.0f, z, log_approx(w) * (z / (w - 1.0f)));
    vf s = vmax(x, splat(0.0f)) + l;
    return vselect(x > 20.0f, x, s);
}

#ifndef TCHUNK
#define TCHUNK 16
#endif

typedef struct {
    const float *A, *dt_w, *dt_bias, *D; /* this direction's (N, d), (R, d), (d,), (d,) at channel c0 */
    ptrdiff_t d, rank, u_bs, u_ps, x_bs, x_ps, y_bs, y_ps;
} scan_args;

/* One (b, k) row's block of VEC_W channels (the first w <= VEC_W real), the chunk's steps at positions pos[s],
   from and back into the state `hbuf` (ns x VEC_W floats). u, x, y are at (b, position 0, channel c0). */
INLINE void scan_block(const scan_args *g, float *hbuf, const float *u, const float *x, float *y,
                       const ptrdiff_t *pos, int count, int ns, int w) {
    vf h[64], a[64], dl[TCHUNK], du[TCHUNK], yt[TCHUNK];
    float tmp[VEC_W];
    const ptrdiff_t d = g->d, rank = g->rank;
    for (int n = 0; n < ns; n++) {
        h[n] = load(hbuf + n * VEC_W);
        for (int i = 0; i < VEC_W; i++) tmp[i] = i < w ? g->A[n * d + i] : 0.0f;
        a[n] = load(tmp);
    }
    for (int i = 0; i < VEC_W; i++) tmp[i] = g->D && i < w ? g->D[i] : 0.0f;
    vf dd = load(tmp);
    for (int i = 0; i < VEC_W; i++) tmp[i] = i < w ? g->dt_bias[i] : 0.0f;
    vf bias = load(tmp);
    /* the chunk's delta, delta u and D u first: each step's exponentials then wait on nothing but loads */
    for (int s = 0; s < count; s++) {
        const float *xs = x + pos[s] * g->x_ps, *us = u + pos[s] * g->u_ps;
        vf ut, dt = bias;
        for (ptrdiff_t r = 0; r < rank; r++) {
            if (w == VEC_W) {
                dt += load(g->dt_w + r * d) * xs[r];
            } else {
                for (int i = 0; i < VEC_W; i++) tmp[i] = i < w ? g->dt_w[r * d + i] : 0.0f;
                dt += load(tmp) * xs[r];
            }
        }
        if (w == VEC_W) {
            ut = load(us);
        } else {
            for (int i = 0; i < VEC_W; i++) tmp[i] = i < w ? us[i] : 0.0f;
            ut = load(tmp);
        }
        dt = softplus(dt);
        dl[s] = dt;
        du[s] = dt * ut;
        yt[s] = dd * ut;
    }
    for (int s = 0; s < count; s++) {
        const float *Bt = x + pos[s] * g->x_ps + rank, *Ct = Bt + ns;
        float *ys = y + pos[s] * g->y_ps;
        vf dt = dl[s], dx = du[s];
        vf acc[4] = {yt[s], splat(0.0f), splat(0.0f), splat(0.0f)};
        for (int n = 0; n < ns; n++) {
            h[n] = exp_approx(dt * a[n]) * h[n] + dx * Bt[n];
            acc[n & 3] += h[n] * Ct[n]; /* four sums: one would chain N dependent multiply-adds per step */
        }
        acc[0] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        if (w == VEC_W) {
            store(ys, load(ys) + acc[0]);
        } else {
            store(tmp, acc[0]);
            for (int i = 0; i < w; i++) ys[i] += tmp[i];
        }
    }
    for (int n = 0; n < ns; n++) store(hbuf + n * VEC_W, h[n]);
}

/* N = 16 (every SasMamba config) with the state count known to the compiler; any N up to 64 beside it. */
static void scan_block_16(const scan_args *g, float *hbuf, const float *u, const float *x, float *y,
                          const ptrdiff_t *pos, int count, int w) {
    scan_block(g, hbuf, u, x, y, pos, count, 16, w);
}

static void scan_block_any(const scan_args *g, float *hbuf, const float *u, const float *x, float *y,
                           const ptrdiff_t *pos, int count, int ns, int w) {
    scan_block(g, hbuf, u, x, y, pos, count, ns, w);
}

/* See the top of this file. u, x, y: K pointers each; order: K x 3. Returns 0; -1 for a state size outside 1..64,
   more than 32 directions or an order with a zero period; -2 when out of memory. */
EXPORT int JOIN(sasmamba_selective_scan_f32, ISA_SUFFIX)(
    const float *const *u, const float *const *x, float *const *y, const float *A, const float *dt_w,
    const float *dt_bias, const float *D, const int64_t *order, unsigned reverse, ptrdiff_t length, ptrdiff_t batch,
    ptrdiff_t k_dirs, ptrdiff_t d, ptrdiff_t n_state, ptrdiff_t rank, ptrdiff_t u_bs, ptrdiff_t u_ps, ptrdiff_t x_bs,
    ptrdiff_t x_ps, ptrdiff_t y_bs, ptrdiff_t y_ps) {
    if (n_state < 1 || n_state > 64 || k_dirs < 1 || k_dirs > 32) return -1;
    for (ptrdiff_t k = 0; k < k_dirs; k++)
        if (order[3 * k] < 1) return -1;
    if (length < 1 || batch < 1 || d < 1) return 0;
    ptrdiff_t blocks = (d + VEC_W - 1) / VEC_W;
    size_t per_block = (size_t)n_state * VEC_W;
    float *hs = calloc((size_t)(batch * k_dirs * blocks) * per_block, sizeof(float));
    if (!hs) return -2;
    ptrdiff_t pos[32][TCHUNK];
    for (ptrdiff_t lo = 0; lo < length; lo += TCHUNK) {
        int count = (int)(length - lo < TCHUNK ? length - lo : TCHUNK);
        for (ptrdiff_t k = 0; k < k_dirs; k++)
            for (int s = 0; s < count; s++) {
                ptrdiff_t m = (reverse >> k) & 1u ? length - 1 - (lo + s) : lo + s;
                pos[k][s] = m / order[3 * k] * order[3 * k + 1] + m % order[3 * k] * order[3 * k + 2];
            }
        for (ptrdiff_t bi = 0; bi < batch; bi++) {
            for (ptrdiff_t k = 0; k < k_dirs; k++) {
                float *hb = hs + (size_t)((bi * k_dirs + k) * blocks) * per_block;
                for (ptrdiff_t c0 = 0; c0 < d; c0 += VEC_W, hb += per_block) {
                    int w = d - c0 < VEC_W ? (int)(d - c0) : VEC_W;
                    scan_args g = {A + (k * n_state) * d + c0, dt_w + (k * rank) * d + c0, dt_bias + k * d + c0,
                                   D ? D + k * d + c0 : NULL, d, rank, u_bs, u_ps, x_bs, x_ps, y_bs, y_ps};
                    const float *uk = u[k] + bi * u_bs + c0, *xk = x[k] + bi * x_bs;
                    float *yk = y[k] + bi * y_bs + c0;
                    if (n_state == 16)
                        scan_block_16(&g, hb, uk, xk, yk, pos[k], count, w);
                    else
                        scan_block_any(&g, hb, uk, xk, yk, pos[k], count, (int)n_state, w);
                }
            }
        }
    }
    free(hs);
    return 0;
}
