// Tunable shared-memory matmul, C = A * B, row-major, with per-thread register blocking.
//
// Parameters (the tuner turns each `// @param` line into a #define):
//   BM x BN   the block's tile of C; BK the depth of the A and B tiles staged in shared memory.
//   TM x TN   the outputs each thread keeps in registers, so a block has (BM/TM) * (BN/TN)
//             threads; every shared-memory value loaded is reused TN (A) or TM (B) times.
//   PAD       floats of padding per row of the transposed A tile (breaks bank conflicts of
//             its strided stores).
// @param BM: 32, 64, 128, 256
// @param BN: 32, 64, 128, 256
// @param BK: 16, 32
// @param TM: 2, 1, 4, 8
// @param TN: 2, 1, 4, 8
// @param PAD: 0
// @threads (BM / TM) * (BN / TN)
// @shared_bytes 4 * BK * (BM + PAD + BN)
// Whole warps, and at least two of them per block.
// @constraint (BM / TM) * (BN / TN) % 32 == 0
// @constraint (BM / TM) * (BN / TN) >= 64
// Static shared memory is capped at 48 KiB per block (also checked against the device).
// @constraint 4 * BK * (BM + PAD + BN) <= 49152
// Accumulators stay in registers: at most 64 per thread, and the block's BM * BN of them
// plus ~32 working registers per thread fit the SM's 65536 registers.
// @constraint TM * TN <= 64
// @constraint BM * BN + 32 * (BM / TM) * (BN / TN) <= 65536
#include <cstdint>

namespace {

constexpr int kRowsT = BM / TM;                // thread rows: a thread's outputs are kRowsT rows apart
constexpr int kColsT = BN / TN;                // thread columns: its outputs are kColsT columns apart
constexpr int kThreads = kRowsT * kColsT;

static_assert(BM % TM == 0 && BN % TN == 0, "the register tile must divide the block tile");

__global__ void __launch_bounds__(kThreads)
    matmul_tiled(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c, int32_t m,
                 int32_t n, int32_t k) {
  __shared__ float as[BK][BM + PAD];  // A tile, transposed: as[p][i] = A[row0 + i, p0 + p]
  __shared__ float bs[BK][BN];        // B tile: bs[p][j] = B[p0 + p, col0 + j]
  const int tid = threadIdx.x;
  const int tx = tid % kColsT, ty = tid / kColsT;
  const int32_t row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i) {
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;
  }

  for (int32_t p0 = 0; p0 < k; p0 += BK) {
    // Stage the tiles; consecutive threads read consecutive addresses; zeros past the edges.
#pragma unroll 4
    for (int idx = tid; idx < BM * BK; idx += kThreads) {
      const int i = idx / BK, p = idx % BK;
      const int32_t row = row0 + i, col = p0 + p;
      as[p][i] = row < m && col < k ? a[static_cast<int64_t>(row) * k + col] : 0.0f;
    }
#pragma unroll 4
    for (int idx = tid; idx < BK * BN; idx += kThreads) {
      const int p = idx / BN, j = idx % BN;
      const int32_t row = p0 + p, col = col0 + j;
      bs[p][j] = row < k && col < n ? b[static_cast<int64_t>(row) * n + col] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int p = 0; p < BK; ++p) {
      float ra[TM], rb[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) ra[i] = as[p][ty + i * kRowsT];
#pragma unroll
      for (int j = 0; j < TN; ++j) rb[j] = bs[p][tx + j * kColsT];
#pragma unroll
      for (int i = 0; i < TM; ++i) {
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(ra[i], rb[j], acc[i][j]);
      }
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int32_t row = row0 + ty + i * kRowsT;
    if (row >= m) continue;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int32_t col = col0 + tx + j * kColsT;
      if (col < n) c[static_cast<int64_t>(row) * n + col] = acc[i][j];
    }
  }
}

}  // namespace

void matmul(const float* a, const float* b, float* c, int32_t m, int32_t n, int32_t k) {
  const dim3 grid((n + BN - 1) / BN, (m + BM - 1) / BM);
  matmul_tiled<<<grid, kThreads>>>(a, b, c, m, n, k);
}
