// The eight chains interleaved, so each thread keeps eight FMAs in flight.
#include <cstdint>

__global__ void fma_chain_kernel(const float* x, float* y, int32_t n) {
  const int32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float v[8];
  const float xi = x[i];
#pragma unroll
  for (int c = 0; c < 8; ++c) v[c] = xi + 0.125f * c;
  for (int r = 0; r < 4096; ++r) {
#pragma unroll
    for (int c = 0; c < 8; ++c) v[c] = fmaf(v[c], 0.9999f, 0.0001f);
  }
  float total = 0.0f;
#pragma unroll
  for (int c = 0; c < 8; ++c) total += v[c];
  y[i] = total;
}

void fma_chain(const float* x, float* y, int32_t n) { fma_chain_kernel<<<(n + 255) / 256, 256>>>(x, y, n); }
