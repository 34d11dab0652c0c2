// expect: memory_opt=0 compute_opt=2 parallelism_opt=3
// Layer norm with OpenMP tasks: one task per chunk of rows (taskloop), each row's mean and
// variance from a single pass over sum and sum of squares.
#include <cmath>
#include <cstdint>

void layernorm(const float* x, float* y, int32_t rows, int32_t cols) {
#pragma omp parallel
#pragma omp single
#pragma omp taskloop grainsize(16)
  for (int32_t r = 0; r < rows; ++r) {
    const float* in = x + static_cast<int64_t>(r) * cols;
    float* out = y + static_cast<int64_t>(r) * cols;
    float sum = 0.0f, sum_sq = 0.0f;
    for (int32_t c = 0; c < cols; ++c) {
      const float v = in[c];
      sum += v;
      sum_sq += v * v;
    }
    const float mean = sum / cols;
    const float inv_std = 1.0f / std::sqrt(sum_sq / cols - mean * mean + 1e-5f);
    for (int32_t c = 0; c < cols; ++c) out[c] = (in[c] - mean) * inv_std;
  }
}
