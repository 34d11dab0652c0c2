// Reference row sum, accumulated in double.
#include <cstdint>

void row_reduce_reference(const float* x, float* y, int32_t rows, int32_t cols) {
  for (int32_t r = 0; r < rows; ++r) {
    const float* in = x + static_cast<int64_t>(r) * cols;
    double sum = 0.0;
    for (int32_t c = 0; c < cols; ++c) sum += static_cast<double>(in[c]);
    y[r] = static_cast<float>(sum);
  }
}
