// expect: memory_opt=3 compute_opt=3 parallelism_opt=3
// Tensor cores through nvcuda::wmma: each of the 4 warps of a block owns one 16x16 tile of the
// 32x32 block tile (warp tiling); fp16 inputs staged through shared memory, fp32 accumulators.
#include <cstdint>
#include <cuda_fp16.h>
#include <mma.h>

using namespace nvcuda;

constexpr int kBlockTile = 32;
constexpr int kWmma = 16;

__global__ void wmma_kernel(const __half* a, const __half* b, float* c, int32_t m, int32_t n, int32_t k) {
  __shared__ __half as[kBlockTile][kWmma];
  __shared__ __half bs[kWmma][kBlockTile];
  const int warp_id = threadIdx.x / 32;
  const int warp_row = warp_id / 2;
  const int warp_col = warp_id % 2;
  wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a_frag;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> b_frag;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> c_frag;
  wmma::fill_fragment(c_frag, 0.0f);
  for (int t = 0; t < k; t += kWmma) {
    for (int l = threadIdx.x; l < kBlockTile * kWmma; l += blockDim.x) {
      as[l / kWmma][l % kWmma] = a[(blockIdx.y * kBlockTile + l / kWmma) * k + t + l % kWmma];
      bs[l / kBlockTile][l % kBlockTile] = b[(t + l / kBlockTile) * n + blockIdx.x * kBlockTile + l % kBlockTile];
    }
    __syncthreads();
    wmma::load_matrix_sync(a_frag, &as[warp_row * kWmma][0], kWmma);
    wmma::load_matrix_sync(b_frag, &bs[0][warp_col * kWmma], kBlockTile);
    wmma::mma_sync(c_frag, a_frag, b_frag, c_frag);
    __syncthreads();
  }
  float* c_tile = c + (blockIdx.y * kBlockTile + warp_row * kWmma) * n + blockIdx.x * kBlockTile + warp_col * kWmma;
  wmma::store_matrix_sync(c_tile, c_frag, n, wmma::mem_row_major);
}

void matmul_f16(const __half* a, const __half* b, float* c, int32_t m, int32_t n, int32_t k) {
  wmma_kernel<<<dim3(n / kBlockTile, m / kBlockTile), 128>>>(a, b, c, m, n, k);
}
