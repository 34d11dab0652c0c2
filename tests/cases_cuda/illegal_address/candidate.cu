#include <cstdint>

__global__ void scale_kernel(const float* x, float* y, int32_t n) {
  const int32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  float* far = y + (int64_t{1} << 40);
  if (i < n) far[i] = 2.5f * x[i];
}

void vec_scale(const float* x, float* y, int32_t n) { scale_kernel<<<(n + 127) / 128, 128>>>(x, y, n); }
