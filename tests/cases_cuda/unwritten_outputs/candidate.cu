#include <cstdint>

// Forgets the tail: only full blocks of 256 are written.
__global__ void scale_kernel(const float* x, float* y, int32_t n) {
  const int32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  y[i] = 2.5f * x[i];
}

void vec_scale(const float* x, float* y, int32_t n) { scale_kernel<<<n / 256, 256>>>(x, y, n); }
