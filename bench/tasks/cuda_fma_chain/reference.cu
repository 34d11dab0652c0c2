#include <cstdint>

__global__ void fma_chain_reference_kernel(const float* x, float* y, int32_t n) {
  const int32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float total = 0.0f;
  for (int c = 0; c < 8; ++c) {
    float v = x[i] + 0.125f * c;
    for (int r = 0; r < 4096; ++r) v = fmaf(v, 0.9999f, 0.0001f);
    total += v;
  }
  y[i] = total;
}

void fma_chain_reference(const float* x, float* y, int32_t n) {
  fma_chain_reference_kernel<<<(n + 255) / 256, 256>>>(x, y, n);
}
