/* Depthwise deformable k x k convolution over SasMamba's (frames x joints) grid, channels last, forward only,
   float32: what engine/deform_conv.py's `deform_conv_depthwise_channels_last` and engine/numpy_runtime.py's
   `deform_conv_depthwise` compute (tests hold them equal).

   Output point (b, h, w), tap t = ky k + kx samples x at (h + ky - k/2 + dy, w + kx - k/2 + dx), (dy, dx) =
   offset channels (2 t, 2 t + 1), bilinearly from its 4 neighbours (neighbours outside the grid read 0):
       out[b, h, w, c] = bias[c] + sum_t weight[c, t] sum_corner w_corner x[b, y_corner, x_corner, c]
   Per output point the 4 k^2 neighbour rows and weights are found once, then every channel block sums them in
   registers: no (points, taps, c) intermediate is written (engine/numpy_runtime.py writes one). */

#include <math.h>

#include "vec.h"

/* Which instruction set this build uses (for both kernels). */
EXPORT const char *JOIN(sasmamba_native_isa, ISA_SUFFIX)(void) { return VEC_ISA; }

/* x (b, H, W, c) contiguous; offset element (b, h, w, j) at b os0 + h os1 + w os2 + j os3; weight (c, k, k);
   bias (c) or NULL; out (b, H, W, c) contiguous. Returns 0; -1 for k outside 1..7; -2 when out of memory. */
EXPORT int JOIN(sasmamba_deform_conv_f32, ISA_SUFFIX)(
    const float *x, const float *offset, const float *weight, const float *bias, float *out, ptrdiff_t batch,
    ptrdiff_t height, ptrdiff_t width, ptrdiff_t c, ptrdiff_t k, ptrdiff_t os0, ptrdiff_t os1, ptrdiff_t os2,
    ptrdiff_t os3) {
    if (k < 1 || k > 7) return -1;
    ptrdiff_t taps = k * k;
    ptrdiff_t cpad = (c + VEC_W - 1) / VEC_W * VEC_W;
    /* (taps, cpad) weights, then the bias, then a zero row that out-of-grid corners read */
    float *wt = calloc((size_t)(taps * cpad + 2 * cpad), sizeof(float));
    if (!wt) return -2;
    for (ptrdiff_t t = 0; t < taps; t++)
        for (ptrdiff_t ch = 0; ch < c; ch++) wt[t * cpad + ch] = weight[ch * taps + t];
    if (bias)
        for (ptrdiff_t ch = 0; ch < c; ch++) wt[taps * cpad + ch] = bias[ch];
    const float *rows[49][4];
    float cw[49][4];
    float tmp[VEC_W];
    for (ptrdiff_t bi = 0; bi < batch; bi++)
        for (ptrdiff_t h = 0; h < height; h++)
            for (ptrdiff_t w = 0; w < width; w++) {
                const float *off = offset + bi * os0 + h * os1 + w * os2;
                const float *zero = wt + (taps + 1) * cpad;
                for (ptrdiff_t ky = 0, t = 0; ky < k; ky++)
                    for (ptrdiff_t kx = 0; kx < k; kx++, t++) {
                        float py = (float)(h + ky - k / 2) + off[(2 * t) * os3];
                        float px = (float)(w + kx - k / 2) + off[(2 * t + 1) * os3];
                        float fy = floorf(py), fx = floorf(px);
                        float ly = py - fy, lx = px - fx; /* NaN for a non-finite offset, as in the reference */
                        /* far outside (or not finite): no neighbour inside, and no integer overflow */
                        ptrdiff_t y0 = fabsf(fy) < 1e9f ? (ptrdiff_t)fy : -2;
                        ptrdiff_t x0 = fabsf(fx) < 1e9f ? (ptrdiff_t)fx : -2;
                        float wy[2] = {1.0f - ly, ly}, wx[2] = {1.0f - lx, lx};
                        for (int corner = 0; corner < 4; corner++) {
                            ptrdiff_t yy = y0 + corner / 2, xx = x0 + corner % 2;
                            int inside = yy >= 0 && yy < height && xx >= 0 && xx < width;
                            rows[t][corner] = inside ? x + ((bi * height + yy) * width + xx) * c : zero;
                            cw[t][corner] = wy[corner / 2] * wx[corner % 2];
                        }
                    }
                float *o = out + ((bi * height + h) * width + w) * c;
                ptrdiff_t c0 = 0;
                /* four vectors at a time (each corner's weight and row address loaded once for them), then one */
                for (; c0 + 4 * VEC_W <= c; c0 += 4 * VEC_W) {
                    vf acc[4], s[4];
                    for (int v = 0; v < 4; v++) acc[v] = load(wt + taps * cpad + c0 + v * VEC_W);
                    for (ptrdiff_t t = 0; t < taps; t++) {
                        for (int v = 0; v < 4; v++) s[v] = splat(0.0f);
                        for (int corner = 0; corner < 4; corner++) {
                            const float *r = rows[t][corner] + c0;
                            float q = cw[t][corner];
                            for (int v = 0; v < 4; v++) s[v] += load(r + v * VEC_W) * q;
                        }
                        for (int v = 0; v < 4; v++) acc[v] += load(wt + t * cpad + c0 + v * VEC_W) * s[v];
                    }
                    for (int v = 0; v < 4; v++) store(o + c0 + v * VEC_W, acc[v]);
                }
                for (; c0 < c; c0 += VEC_W) {
                    int full = c - c0 >= VEC_W;
                    vf acc = load(wt + taps * cpad + c0);
                    for (ptrdiff_t t = 0; t < taps; t++) {
                        vf s = splat(0.0f);
                        for (int corner = 0; corner < 4; corner++) {
                            const float *r = rows[t][corner];
                            if (full) {
                                s += load(r + c0) * cw[t][corner];
                            } else {
                                for (int i = 0; i < VEC_W; i++) tmp[i] = c0 + i < c ? r[c0 + i] : 0.0f;
                                s += load(tmp) * cw[t][corner];
                            }
                        }
                        acc += load(wt + t * cpad + c0) * s;
                    }
                    if (full) {
                        store(o + c0, acc);
                    } else {
                        store(tmp, acc);
                        for (int i = 0; c0 + i < c; i++) o[c0 + i] = tmp[i];
                    }
                }
            }
    free(wt);
    return 0;
}
