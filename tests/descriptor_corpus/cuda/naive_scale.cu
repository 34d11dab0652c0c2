// expect: memory_opt=0 compute_opt=0 parallelism_opt=0
// Trap: the comments and the string below claim optimizations the code does not have.
// "This kernel uses __shared__ tiling, float4 loads and warp shuffles (__shfl_down_sync),
//  with __syncthreads() between the tiles, and wmma::mma_sync for the products."
#include <cstdint>

static const char* kDescription = "__shared__ float tile[256]; __syncthreads(); __shfl_down_sync(0xffffffff, v, 16);";

__global__ void scale_kernel(const float* x, float* y, int32_t n) {
  const int32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  /* __syncthreads(); */
  if (i < n) y[i] = 2.5f * x[i];  // expf would be __expf with fast math
}

void vec_scale(const float* x, float* y, int32_t n) {
  (void)kDescription;
  scale_kernel<<<(n + 255) / 256, 256>>>(x, y, n);
}
