#include <cstdint>

__global__ void stream_reference_kernel(const float* x, float* y, int32_t n) {
  const int32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = 2.0f * x[i] + 1.0f;
}

void stream_reference(const float* x, float* y, int32_t n) {
  stream_reference_kernel<<<(n + 255) / 256, 256>>>(x, y, n);
}
