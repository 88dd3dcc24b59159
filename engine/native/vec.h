/* Shared by the C kernels (scan.c, deform.c): float vectors of one register's width, through GNU C vector extensions
   (gcc, clang). Built once per instruction set on x86-64, each build's entry points named with ISA_SUFFIX
   (dispatch.c picks one at run time); elsewhere built once, unsuffixed. */

#ifndef SASMAMBA_VEC_H
#define SASMAMBA_VEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

/* entry-point names: JOIN(name, ISA_SUFFIX) */
#ifndef ISA_SUFFIX
#define ISA_SUFFIX
#endif
#define JOIN2(a, b) a##b
#define JOIN(a, b) JOIN2(a, b)

/* VEC_W floats per vector: one register */
#if defined(__AVX512F__)
#define VEC_W 16
#define VEC_ISA "avx512"
#elif defined(__AVX2__) && defined(__FMA__)
#define VEC_W 8
#define VEC_ISA "avx2"
#elif defined(__SSE2__)
#define VEC_W 4
#define VEC_ISA "sse2"
#elif defined(__ARM_NEON)
#define VEC_W 4
#define VEC_ISA "neon"
#else
#define VEC_W 4
#define VEC_ISA "generic"
#endif

#define INLINE static inline __attribute__((always_inline))
#define EXPORT __attribute__((visibility("default")))

typedef float vf __attribute__((vector_size(VEC_W * 4)));
typedef int32_t vi __attribute__((vector_size(VEC_W * 4)));

INLINE vf splat(float x) { return (vf){0} + x; }
INLINE vf vselect(vi mask, vf a, vf b) { return (vf)((mask & (vi)a) | (~mask & (vi)b)); }
#if defined(__AVX512F__) && VEC_W == 16
INLINE vf vmin(vf a, vf b) { return (vf)_mm512_min_ps((__m512)a, (__m512)b); }
INLINE vf vmax(vf a, vf b) { return (vf)_mm512_max_ps((__m512)a, (__m512)b); }
#elif defined(__AVX2__) && VEC_W == 8
INLINE vf vmin(vf a, vf b) { return (vf)_mm256_min_ps((__m256)a, (__m256)b); }
INLINE vf vmax(vf a, vf b) { return (vf)_mm256_max_ps((__m256)a, (__m256)b); }
#else
INLINE vf vmin(vf a, vf b) { return vselect(a < b, a, b); }
INLINE vf vmax(vf a, vf b) { return vselect(a > b, a, b); }
#endif

INLINE vf load(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
INLINE void store(float *p, vf v) { memcpy(p, &v, sizeof v); }

#endif
