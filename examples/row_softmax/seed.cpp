// Naive row softmax: three passes per row (max, sum of exponentials, normalize), one thread.
#include <cmath>
#include <cstdint>

void row_softmax(const float* x, float* y, int32_t rows, int32_t cols) {
  // EVOLVE-BLOCK-START
  for (int32_t r = 0; r < rows; ++r) {
    const float* in = x + static_cast<int64_t>(r) * cols;
    float* out = y + static_cast<int64_t>(r) * cols;
    float max_value = -INFINITY;
    for (int32_t c = 0; c < cols; ++c) max_value = std::fmax(max_value, in[c]);
    float sum = 0.0f;
    for (int32_t c = 0; c < cols; ++c) {
      out[c] = std::exp(in[c] - max_value);
      sum += out[c];
    }
    for (int32_t c = 0; c < cols; ++c) out[c] /= sum;
  }
  // EVOLVE-BLOCK-END
}
