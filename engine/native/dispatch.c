/* x86-64: scan.c and deform.c are built three times (AVX-512, AVX2 + FMA, SSE2; suffixes _avx512, _avx2, _sse2)
   and this picks the fastest build the CPU (and OS) supports at every call: __builtin_cpu_supports reads flags set
   once at load. Built with the baseline instruction set, so nothing runs that the CPU lacks. */

#include <stddef.h>
#include <stdint.h>

#define EXPORT __attribute__((visibility("default")))
#define SCAN_ARGS                                                                                                    \
    const float *const *u, const float *const *x, float *const *y, const float *A, const float *dt_w,                \
        const float *dt_bias, const float *D, const int64_t *order, unsigned reverse, ptrdiff_t length,              \
        ptrdiff_t batch, ptrdiff_t k_dirs, ptrdiff_t d, ptrdiff_t n_state, ptrdiff_t rank, ptrdiff_t u_bs,           \
        ptrdiff_t u_ps, ptrdiff_t x_bs, ptrdiff_t x_ps, ptrdiff_t y_bs, ptrdiff_t y_ps
#define SCAN_CALL                                                                                                    \
    u, x, y, A, dt_w, dt_bias, D, order, reverse, length, batch, k_dirs, d, n_state, rank, u_bs, u_ps, x_bs, x_ps,   \
        y_bs, y_ps
#define DEFORM_ARGS                                                                                                  \
    const float *x, const float *offset, const float *weight, const float *bias, float *out, ptrdiff_t batch,        \
        ptrdiff_t height, ptrdiff_t width, ptrdiff_t c, ptrdiff_t k, ptrdiff_t os0, ptrdiff_t os1, ptrdiff_t os2,    \
        ptrdiff_t os3
#define DEFORM_CALL x, offset, weight, bias, out, batch, height, width, c, k, os0, os1, os2, os3

#define DECLARE(suffix)                                                                                              \
    int sasmamba_selective_scan_f32##suffix(SCAN_ARGS);                                                              \
    int sasmamba_deform_conv_f32##suffix(DEFORM_ARGS);                                                               \
    const char *sasmamba_native_isa##suffix(void);
DECLARE(_avx512)
DECLARE(_avx2)
DECLARE(_sse2)

static int level(void) {
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
}

#define DISPATCH(name, call)                                                                                         \
    switch (level()) {                                                                                               \
    case 2: return name##_avx512 call;                                                                               \
    case 1: return name##_avx2 call;                                                                                 \
    default: return name##_sse2 call;                                                                                \
    }

EXPORT const char *sasmamba_native_isa(void) { DISPATCH(sasmamba_native_isa, ()) }
EXPORT int sasmamba_selective_scan_f32(SCAN_ARGS) { DISPATCH(sasmamba_selective_scan_f32, (SCAN_CALL)) }
EXPORT int sasmamba_deform_conv_f32(DEFORM_ARGS) { DISPATCH(sasmamba_deform_conv_f32, (DEFORM_CALL)) }
