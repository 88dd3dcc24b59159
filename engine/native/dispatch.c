/* x86-64: scan.c is built three times (AVX-512, AVX2 + FMA, SSE2; suffixes _avx512, _avx2, _sse2) and this
   picks the fastest the CPU (and OS) supports at every call: __builtin_cpu_supports reads flags set once at load.
   Built with the baseline instruction set, like the SSE2 build, so nothing runs that the CPU lacks. */

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

int sasmamba_selective_scan_f32_avx512(SCAN_ARGS);
int sasmamba_selective_scan_f32_avx2(SCAN_ARGS);
int sasmamba_selective_scan_f32_sse2(SCAN_ARGS);
const char *sasmamba_scan_isa_avx512(void);
const char *sasmamba_scan_isa_avx2(void);
const char *sasmamba_scan_isa_sse2(void);

static int level(void) {
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
}

EXPORT const char *sasmamba_scan_isa(void) {
    switch (level()) {
    case 2: return sasmamba_scan_isa_avx512();
    case 1: return sasmamba_scan_isa_avx2();
    default: return sasmamba_scan_isa_sse2();
    }
}

EXPORT int sasmamba_selective_scan_f32(SCAN_ARGS) {
    switch (level()) {
    case 2: return sasmamba_selective_scan_f32_avx512(SCAN_CALL);
    case 1: return sasmamba_selective_scan_f32_avx2(SCAN_CALL);
    default: return sasmamba_selective_scan_f32_sse2(SCAN_CALL);
    }
}
