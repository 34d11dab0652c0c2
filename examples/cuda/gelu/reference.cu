#include <cmath>
#include <cstdint>

__global__ void gelu_reference_kernel(const float* x, float* y, int32_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const double v = x[i];
  const double k = 0.7978845608028654;  // sqrt(2 / pi)
  y[i] = static_cast<float>(0.5 * v * (1.0 + tanh(k * (v + 0.044715 * v * v * v))));
}

void gelu_reference(const float* x, float* y, int32_t n) {
  gelu_reference_kernel<<<(n + 255) / 256, 256>>>(x, y, n);
}
