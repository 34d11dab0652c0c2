// Reference row softmax: max-subtracted, with the sum accumulated in double.
#include <cmath>
#include <cstdint>

void row_softmax_reference(const float* x, float* y, int32_t rows, int32_t cols) {
  for (int32_t r = 0; r < rows; ++r) {
    const float* in = x + static_cast<int64_t>(r) * cols;
    float* out = y + static_cast<int64_t>(r) * cols;
    double max_value = -INFINITY;
    for (int32_t c = 0; c < cols; ++c) max_value = std::fmax(max_value, static_cast<double>(in[c]));
    double sum = 0.0;
    for (int32_t c = 0; c < cols; ++c) sum += std::exp(static_cast<double>(in[c]) - max_value);
    for (int32_t c = 0; c < cols; ++c) {
      out[c] = static_cast<float>(std::exp(static_cast<double>(in[c]) - max_value) / sum);
    }
  }
}
