#include <cmath>
#include <cstdint>

// One thread per row, in double: slow, obviously correct.
__global__ void row_softmax_reference_kernel(const float* x, float* y, int32_t rows, int32_t cols) {
  const int32_t r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  const float* in = x + static_cast<int64_t>(r) * cols;
  float* out = y + static_cast<int64_t>(r) * cols;
  double m = in[0];
  for (int32_t c = 1; c < cols; ++c) m = fmax(m, static_cast<double>(in[c]));
  double sum = 0;
  for (int32_t c = 0; c < cols; ++c) sum += exp(in[c] - m);
  for (int32_t c = 0; c < cols; ++c) out[c] = static_cast<float>(exp(in[c] - m) / sum);
}

void row_softmax_reference(const float* x, float* y, int32_t rows, int32_t cols) {
  row_softmax_reference_kernel<<<(rows + 127) / 128, 128>>>(x, y, rows, cols);
}
