#include <cstdint>

// One thread per output element, accumulating in double: slow, obviously correct.
__global__ void matmul_reference_kernel(const float* a, const float* b, float* c, int32_t m, int32_t n, int32_t k) {
  const int32_t j = blockIdx.x * blockDim.x + threadIdx.x;
  const int32_t i = blockIdx.y * blockDim.y + threadIdx.y;
  if (i >= m || j >= n) return;
  double acc = 0;
  for (int32_t p = 0; p < k; ++p) {
    acc += static_cast<double>(a[static_cast<int64_t>(i) * k + p]) * b[static_cast<int64_t>(p) * n + j];
  }
  c[static_cast<int64_t>(i) * n + j] = static_cast<float>(acc);
}

void matmul_reference(const float* a, const float* b, float* c, int32_t m, int32_t n, int32_t k) {
  const dim3 block(16, 16);
  const dim3 grid((n + 15) / 16, (m + 15) / 16);
  matmul_reference_kernel<<<grid, block>>>(a, b, c, m, n, k);
}
