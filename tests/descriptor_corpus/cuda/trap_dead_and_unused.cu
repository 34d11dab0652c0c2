// expect: memory_opt=0 compute_opt=0 parallelism_opt=1
// Traps: everything optimized here is dead, unused or only written; only the barrier is real.
#include <cstdint>

#define TILE 256
#define UNUSED_SYNC() __syncthreads()

// Never called: a warp reduction nobody uses.
__device__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

#if 0
__global__ void async_copy(const float* x, float* y) {
  __shared__ float stage[2][TILE];
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" :: "r"(0), "l"(x));
  wmma::mma_sync(acc, a, b, acc);
}
#endif

__global__ void relu_kernel(const float* x, float* y, int32_t n) {
  __shared__ float tile[TILE];       // declared, never used
  __shared__ float written_only[TILE];
  float4 unused_vector;              // declared, never loaded or stored
  (void)unused_vector;
  const int32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  written_only[threadIdx.x] = i < n ? x[i] : 0.0f;  // written, never read back
  __syncthreads();
  if (i < n) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void relu(const float* x, float* y, int32_t n) { relu_kernel<<<(n + TILE - 1) / TILE, TILE>>>(x, y, n); }
