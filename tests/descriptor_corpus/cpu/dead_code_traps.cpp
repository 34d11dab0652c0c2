// expect: memory_opt=0 compute_opt=0 parallelism_opt=0
// Traps: an internal helper nobody calls (with OpenMP and AVX), an `#if 0` branch and the
// `#else` of an `#if 1`, a register-sized array that is written but never read.
#include <cmath>
#include <cstdint>
#include <immintrin.h>

namespace {

void ScaleParallel(float* y, int32_t n) {
#pragma omp parallel for simd
  for (int32_t i = 0; i < n; ++i) y[i] = std::fma(y[i], 2.0f, 1.0f);
}

}  // namespace

static void ScaleAvx(float* y, int32_t n) {
  for (int32_t i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), _mm256_set1_ps(2.0f)));
}

void vec_scale(const float* x, float* y, int32_t n) {
  float last[4];
#if 1
  for (int32_t i = 0; i < n; ++i) {
    y[i] = 2.5f * x[i];
    last[i % 4] = y[i];
  }
#else
#pragma omp parallel for
  for (int32_t i = 0; i < n; ++i) y[i] = __builtin_fmaf(x[i], 2.5f, 0.0f);
#endif
#if 0
  ScaleAvx(y, n);
#endif
}
