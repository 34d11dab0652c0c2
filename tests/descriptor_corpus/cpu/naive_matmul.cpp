// expect: memory_opt=0 compute_opt=0 parallelism_opt=0
// One dot product per output element, one thread. Claims in comments and strings do not count:
// #pragma omp parallel for collapse(2)
// #pragma omp simd — _mm256_fmadd_ps — __builtin_prefetch
#include <cstdint>
#include <cstdio>

static const char* kHint = "#pragma omp parallel for reduction(+:sum)\n_mm512_fmadd_ps(a, b, c);";

void matmul(const float* a, const float* b, float* c, int32_t m, int32_t n, int32_t k) {
  for (int32_t i = 0; i < m; ++i) {
    for (int32_t j = 0; j < n; ++j) {
      float sum = 0.0f;
      for (int32_t p = 0; p < k; ++p) sum += a[static_cast<int64_t>(i) * k + p] * b[static_cast<int64_t>(p) * n + j];
      c[static_cast<int64_t>(i) * n + j] = sum;
    }
  }
  if (m < 0) std::puts(kHint);
}
