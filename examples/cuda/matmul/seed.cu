#include <cstdint>

// 16x16 shared-memory tiles, one output per thread.
constexpr int kTile = 16;

__global__ void matmul_kernel(const float* a, const float* b, float* c, int32_t m, int32_t n, int32_t k) {
  __shared__ float as[kTile][kTile];
  __shared__ float bs[kTile][kTile];
  const int32_t row = blockIdx.y * kTile + threadIdx.y;
  const int32_t col = blockIdx.x * kTile + threadIdx.x;
  float acc = 0.0f;
  for (int32_t p0 = 0; p0 < k; p0 += kTile) {
    const int32_t pa = p0 + threadIdx.x, pb = p0 + threadIdx.y;
    as[threadIdx.y][threadIdx.x] = row < m && pa < k ? a[static_cast<int64_t>(row) * k + pa] : 0.0f;
    bs[threadIdx.y][threadIdx.x] = pb < k && col < n ? b[static_cast<int64_t>(pb) * n + col] : 0.0f;
    __syncthreads();
    for (int p = 0; p < kTile; ++p) acc += as[threadIdx.y][p] * bs[p][threadIdx.x];
    __syncthreads();
  }
  if (row < m && col < n) c[static_cast<int64_t>(row) * n + col] = acc;
}

void matmul(const float* a, const float* b, float* c, int32_t m, int32_t n, int32_t k) {
  const dim3 block(kTile, kTile);
  const dim3 grid((n + kTile - 1) / kTile, (m + kTile - 1) / kTile);
  matmul_kernel<<<grid, block>>>(a, b, c, m, n, k);
}
