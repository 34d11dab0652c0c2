// expect: memory_opt=2 compute_opt=1 parallelism_opt=1
// Cache blocking in i, k and j (64x64x64 blocks) with threads over the block rows.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

constexpr int32_t kBlock = 64;

void matmul(const float* a, const float* b, float* c, int32_t m, int32_t n, int32_t k) {
  std::memset(c, 0, sizeof(float) * static_cast<std::size_t>(m) * n);
#pragma omp parallel for
  for (int32_t ii = 0; ii < m; ii += kBlock) {
    for (int32_t kk = 0; kk < k; kk += kBlock) {
      for (int32_t jj = 0; jj < n; jj += kBlock) {
        const int32_t i_end = std::min(ii + kBlock, m), k_end = std::min(kk + kBlock, k), j_end = std::min(jj + kBlock, n);
        for (int32_t i = ii; i < i_end; ++i) {
          for (int32_t p = kk; p < k_end; ++p) {
            const float av = a[static_cast<int64_t>(i) * k + p];
            for (int32_t j = jj; j < j_end; ++j) {
              c[static_cast<int64_t>(i) * n + j] = std::fma(av, b[static_cast<int64_t>(p) * n + j], c[static_cast<int64_t>(i) * n + j]);
            }
          }
        }
      }
    }
  }
}
