// expect: memory_opt=1 compute_opt=0 parallelism_opt=0
// Only the live branches count: `#if 0` and the `#else` of `#if 1` are dead, an `#ifdef` keeps
// both of its branches (it may be either way at build time).
#include <cstdint>

#if 1
#define LOAD(p, i) __ldg(&(p)[i])
#else
#define LOAD(p, i) (p)[i]
__device__ void never(float* s) { __syncthreads(); }
#endif

__global__ void add_kernel(const float* a, const float* b, float* c, int32_t n) {
  const int32_t i = blockIdx.x * blockDim.x + threadIdx.x;
#if 0
  __shared__ float stage[256];
  stage[threadIdx.x] = a[i];
  __syncthreads();
  c[i] = stage[threadIdx.x] + __shfl_down_sync(0xffffffffu, b[i], 1);
#elif 0
  c[i] = __fmaf_rn(a[i], 1.0f, b[i]);
#else
  if (i < n) c[i] = LOAD(a, i) + LOAD(b, i);
#endif
}

void vec_add(const float* a, const float* b, float* c, int32_t n) { add_kernel<<<(n + 255) / 256, 256>>>(a, b, c, n); }
