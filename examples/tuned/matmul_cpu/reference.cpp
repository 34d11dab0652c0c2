// Reference matrix multiply with double accumulation.
#include <cstdint>

void matmul_reference(const float* a, const float* b, float* c, int32_t m, int32_t n, int32_t k) {
  for (int32_t i = 0; i < m; ++i) {
    for (int32_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (int32_t p = 0; p < k; ++p) {
        sum += static_cast<double>(a[static_cast<int64_t>(i) * k + p]) * b[static_cast<int64_t>(p) * n + j];
      }
      c[static_cast<int64_t>(i) * n + j] = static_cast<float>(sum);
    }
  }
}
