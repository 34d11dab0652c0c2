// expect: memory_opt=2 compute_opt=2 parallelism_opt=3
// Layer norm, one block per row: sum and sum of squares in a single pass, reduced within each
// warp by shuffles, then across warps through shared memory (two-level reduction).
#include <cstdint>

__device__ __forceinline__ float warp_reduce(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

__global__ void layernorm_kernel(const float* x, float* y, int32_t cols, float eps) {
  __shared__ float warp_sums[32];
  __shared__ float warp_squares[32];
  const float* in = x + static_cast<int64_t>(blockIdx.x) * cols;
  float* out = y + static_cast<int64_t>(blockIdx.x) * cols;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  float sum = 0.0f, squares = 0.0f;
  for (int32_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float v = in[c];
    sum += v;
    squares += v * v;
  }
  sum = warp_reduce(sum);
  squares = warp_reduce(squares);
  if (lane == 0) {
    warp_sums[warp] = sum;
    warp_squares[warp] = squares;
  }
  __syncthreads();
  if (warp == 0) {
    const int warps = blockDim.x / 32;
    sum = warp_reduce(lane < warps ? warp_sums[lane] : 0.0f);
    squares = warp_reduce(lane < warps ? warp_squares[lane] : 0.0f);
    if (lane == 0) {
      warp_sums[0] = sum;
      warp_squares[0] = squares;
    }
  }
  __syncthreads();
  const float mean = warp_sums[0] / cols;
  const float inv_std = rsqrtf(warp_squares[0] / cols - mean * mean + eps);
  for (int32_t c = threadIdx.x; c < cols; c += blockDim.x) out[c] = (in[c] - mean) * inv_std;
}

void layernorm(const float* x, float* y, int32_t rows, int32_t cols) {
  layernorm_kernel<<<rows, 256>>>(x, y, cols, 1e-5f);
}
