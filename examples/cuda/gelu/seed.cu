#include <cstdint>

__global__ void gelu_kernel(const float* x, float* y, int32_t n) {
  const int32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    const float v = x[i];
    y[i] = 0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v)));
  }
}

void gelu(const float* x, float* y, int32_t n) { gelu_kernel<<<(n + 255) / 256, 256>>>(x, y, n); }
