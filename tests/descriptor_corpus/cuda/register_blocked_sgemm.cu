// expect: memory_opt=3 compute_opt=3 parallelism_opt=1
// 2-D block tiling with an 8x8 register tile per thread: shared tiles of A (transposed) and B,
// float4 loads from global memory, and an outer-product micro-kernel over registers.
#include <cstdint>

#define BM 64
#define BN 64
#define BK 8
#define TM 8
#define TN 8

__global__ void __launch_bounds__(64) sgemm_kernel(const float* __restrict__ a, const float* __restrict__ b,
                                                   float* __restrict__ c, int32_t m, int32_t n, int32_t k) {
  __shared__ float as[BK][BM];
  __shared__ float bs[BK][BN];
  const int tx = threadIdx.x % (BN / TN);
  const int ty = threadIdx.x / (BN / TN);
  const float* a_block = a + static_cast<int64_t>(blockIdx.y) * BM * k;
  const float* b_block = b + static_cast<int64_t>(blockIdx.x) * BN;
  float acc[TM][TN] = {};
  float a_reg[TM];
  float b_reg[TN];
  for (int t = 0; t < k; t += BK) {
    // 64 threads load 64x8 of A (as 128 float4) and 8x64 of B (as 128 float4).
    for (int l = threadIdx.x; l < BM * BK / 4; l += blockDim.x) {
      const int r = l / (BK / 4), c4 = (l % (BK / 4)) * 4;
      const float4 v = *reinterpret_cast<const float4*>(&a_block[r * k + t + c4]);
      as[c4 + 0][r] = v.x;
      as[c4 + 1][r] = v.y;
      as[c4 + 2][r] = v.z;
      as[c4 + 3][r] = v.w;
    }
    for (int l = threadIdx.x; l < BK * BN / 4; l += blockDim.x) {
      const int r = l / (BN / 4), c4 = (l % (BN / 4)) * 4;
      *reinterpret_cast<float4*>(&bs[r][c4]) = *reinterpret_cast<const float4*>(&b_block[(t + r) * n + c4]);
    }
    __syncthreads();
#pragma unroll
    for (int p = 0; p < BK; ++p) {
#pragma unroll
      for (int i = 0; i < TM; ++i) a_reg[i] = as[p][ty * TM + i];
#pragma unroll
      for (int j = 0; j < TN; ++j) b_reg[j] = bs[p][tx * TN + j];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] += a_reg[i] * b_reg[j];
    }
    __syncthreads();
  }
  for (int i = 0; i < TM; ++i)
    for (int j = 0; j < TN; ++j)
      c[(blockIdx.y * BM + ty * TM + i) * static_cast<int64_t>(n) + blockIdx.x * BN + tx * TN + j] = acc[i][j];
}

// Assumes m % 64 == 0, n % 64 == 0, k % 8 == 0 (the task's shapes).
void matmul(const float* a, const float* b, float* c, int32_t m, int32_t n, int32_t k) {
  sgemm_kernel<<<dim3(n / BN, m / BM), 64>>>(a, b, c, m, n, k);
}
