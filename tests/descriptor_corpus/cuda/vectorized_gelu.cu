// expect: memory_opt=1 compute_opt=1 parallelism_opt=0
// GELU (tanh form) over float4 loads and stores; the tail is handled element by element.
#include <cstdint>

__device__ __forceinline__ float gelu(float v) {
  const float inner = 0.7978845608f * (v + 0.044715f * v * v * v);
  const float t = 1.0f - 2.0f / (__expf(2.0f * inner) + 1.0f);  // tanh(inner), fast exp
  return 0.5f * v * (1.0f + t);
}

__global__ void gelu_kernel(const float* x, float* y, int32_t n) {
  const int32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  const int32_t vec_n = n / 4;
  if (i < vec_n) {
    float4 v = reinterpret_cast<const float4*>(x)[i];
    v.x = gelu(v.x);
    v.y = gelu(v.y);
    v.z = gelu(v.z);
    v.w = gelu(v.w);
    reinterpret_cast<float4*>(y)[i] = v;
  }
  const int32_t tail = vec_n * 4 + i;
  if (i < n - vec_n * 4) y[tail] = gelu(x[tail]);
}

void gelu(const float* x, float* y, int32_t n) {
  const int32_t threads = 256;
  const int32_t blocks = (n / 4 + threads - 1) / threads + 1;
  gelu_kernel<<<blocks, threads>>>(x, y, n);
}
