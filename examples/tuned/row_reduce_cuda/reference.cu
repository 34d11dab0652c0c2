#include <cstdint>

// One thread per row, accumulating in double: slow, obviously correct.
__global__ void row_reduce_reference_kernel(const float* x, float* y, int32_t rows, int32_t cols) {
  const int32_t r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  const float* in = x + static_cast<int64_t>(r) * cols;
  double sum = 0;
  for (int32_t c = 0; c < cols; ++c) sum += in[c];
  y[r] = static_cast<float>(sum);
}

void row_reduce_reference(const float* x, float* y, int32_t rows, int32_t cols) {
  row_reduce_reference_kernel<<<(rows + 127) / 128, 128>>>(x, y, rows, cols);
}
