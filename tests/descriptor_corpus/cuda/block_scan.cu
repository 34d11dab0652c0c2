// expect: memory_opt=2 compute_opt=3 parallelism_opt=3
// Inclusive prefix sum within each block of 1024: a warp scan with __shfl_up_sync, warp totals
// scanned by the first warp through shared memory, then added back (block-wide carries are
// added by a second kernel).
#include <cstdint>

__device__ float warp_inclusive_scan(float v, int lane) {
  for (int offset = 1; offset < 32; offset <<= 1) {
    const float up = __shfl_up_sync(0xffffffffu, v, offset);
    if (lane >= offset) v += up;
  }
  return v;
}

__global__ void block_scan_kernel(const float* x, float* y, float* block_totals, int32_t n) {
  __shared__ float warp_totals[32];
  const int32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  float v = i < n ? x[i] : 0.0f;
  v = warp_inclusive_scan(v, lane);
  if (lane == 31) warp_totals[warp] = v;
  __syncthreads();
  if (warp == 0) warp_totals[lane] = warp_inclusive_scan(warp_totals[lane], lane);
  __syncthreads();
  if (warp > 0) v += warp_totals[warp - 1];
  if (i < n) y[i] = v;
  if (threadIdx.x == blockDim.x - 1) block_totals[blockIdx.x] = v;
}

__global__ void add_carries_kernel(float* y, const float* block_totals, int32_t n) {
  const int32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  float carry = 0.0f;
  for (int32_t b = 0; b < static_cast<int32_t>(blockIdx.x); ++b) carry += block_totals[b];
  if (i < n) y[i] += carry;
}

void prefix_sum(const float* x, float* y, float* scratch, int32_t n) {
  const int32_t blocks = (n + 1023) / 1024;
  block_scan_kernel<<<blocks, 1024>>>(x, y, scratch, n);
  add_carries_kernel<<<blocks, 1024>>>(y, scratch, n);
}
