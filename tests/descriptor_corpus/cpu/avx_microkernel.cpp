// expect: memory_opt=3 compute_opt=3 parallelism_opt=2
// AVX2 + FMA micro-kernel: a 4x16 tile of C held in eight __m256 registers (4 rows x 2
// vectors), threads over row panels. Assumes m % 4 == 0 and n % 16 == 0.
#include <immintrin.h>

#include <cstdint>

void matmul(const float* a, const float* b, float* c, int32_t m, int32_t n, int32_t k) {
#pragma omp parallel for
  for (int32_t i = 0; i < m; i += 4) {
    for (int32_t j = 0; j < n; j += 16) {
      __m256 acc[4][2];
      for (int r = 0; r < 4; ++r) {
        acc[r][0] = _mm256_setzero_ps();
        acc[r][1] = _mm256_setzero_ps();
      }
      for (int32_t p = 0; p < k; ++p) {
        const __m256 b0 = _mm256_loadu_ps(b + static_cast<int64_t>(p) * n + j);
        const __m256 b1 = _mm256_loadu_ps(b + static_cast<int64_t>(p) * n + j + 8);
        __builtin_prefetch(b + static_cast<int64_t>(p + 4) * n + j);
        for (int r = 0; r < 4; ++r) {
          const __m256 av = _mm256_broadcast_ss(a + static_cast<int64_t>(i + r) * k + p);
          acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
          acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
      }
      for (int r = 0; r < 4; ++r) {
        _mm256_storeu_ps(c + static_cast<int64_t>(i + r) * n + j, acc[r][0]);
        _mm256_storeu_ps(c + static_cast<int64_t>(i + r) * n + j + 8, acc[r][1]);
      }
    }
  }
}
