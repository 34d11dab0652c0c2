// expect: memory_opt=1 compute_opt=2 parallelism_opt=2
// Rows in parallel; each row in one pass with an online max and a rescaled sum, then a
// vectorized normalization.
#include <algorithm>
#include <cmath>
#include <cstdint>

void row_softmax(const float* __restrict x, float* __restrict y, int32_t rows, int32_t cols) {
#pragma omp parallel for schedule(static)
  for (int32_t r = 0; r < rows; ++r) {
    const float* in = x + static_cast<int64_t>(r) * cols;
    float* out = y + static_cast<int64_t>(r) * cols;
    float running_max = -INFINITY;
    float running_sum = 0.0f;
    for (int32_t c = 0; c < cols; ++c) {
      const float next_max = std::max(running_max, in[c]);
      running_sum = running_sum * std::exp(running_max - next_max) + std::exp(in[c] - next_max);
      running_max = next_max;
    }
    const float inv = 1.0f / running_sum;
#pragma omp simd
    for (int32_t c = 0; c < cols; ++c) out[c] = std::exp(in[c] - running_max) * inv;
  }
}
