// float4 loads and stores, a grid-stride loop over a full wave of blocks.
#include <cstdint>

__global__ void stream_kernel(const float4* x, float4* y, int32_t n4, const float* xs, float* ys, int32_t n) {
  for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += gridDim.x * blockDim.x) {
    float4 v = x[i];
    y[i] = make_float4(2.0f * v.x + 1.0f, 2.0f * v.y + 1.0f, 2.0f * v.z + 1.0f, 2.0f * v.w + 1.0f);
  }
  const int32_t tail = n4 * 4 + blockIdx.x * blockDim.x + threadIdx.x;
  if (tail < n) ys[tail] = 2.0f * xs[tail] + 1.0f;
}

void stream(const float* x, float* y, int32_t n) {
  const int32_t n4 = n / 4;
  stream_kernel<<<132 * 8, 256>>>(reinterpret_cast<const float4*>(x), reinterpret_cast<float4*>(y), n4, x, y, n);
}
