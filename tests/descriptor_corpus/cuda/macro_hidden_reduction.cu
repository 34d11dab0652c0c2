// expect: memory_opt=2 compute_opt=0 parallelism_opt=3
// Row sums where the synchronization hides behind macros: the used macros count, the unused
// one (a shared tile and an async copy) does not.
#include <cstdint>

#define FULL_MASK 0xffffffffu
#define WARP_SUM(v)                                                   \
  for (int offset_ = 16; offset_ > 0; offset_ >>= 1) {                \
    (v) += __shfl_down_sync(FULL_MASK, (v), offset_);                 \
  }
#define BLOCK_SYNC() __syncthreads()
#define UNUSED_STAGE(dst, src) __pipeline_memcpy_async((dst), (src), 16)
#define WARP_OF(t) ((t) >> 5)

__global__ void row_sum_kernel(const float* x, float* y, int32_t cols) {
  __shared__ float partial[32];
  const float* in = x + static_cast<int64_t>(blockIdx.x) * cols;
  float v = 0.0f;
  for (int32_t c = threadIdx.x; c < cols; c += blockDim.x) v += in[c];
  WARP_SUM(v);
  if ((threadIdx.x & 31) == 0) partial[WARP_OF(threadIdx.x)] = v;
  BLOCK_SYNC();
  if (threadIdx.x < 32) {
    v = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0.0f;
    WARP_SUM(v);
    if (threadIdx.x == 0) y[blockIdx.x] = v;
  }
}

void row_sum(const float* x, float* y, int32_t rows, int32_t cols) { row_sum_kernel<<<rows, 512>>>(x, y, cols); }
