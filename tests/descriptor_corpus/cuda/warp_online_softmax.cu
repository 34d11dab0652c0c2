// expect: memory_opt=0 compute_opt=2 parallelism_opt=2
// One warp per row, one pass: each lane keeps a running max and a rescaled sum (online softmax),
// then the lanes merge their (max, sum) pairs with xor shuffles. No shared memory, no barrier.
#include <cstdint>
#include <cmath>

__global__ void softmax_kernel(const float* x, float* y, int32_t rows, int32_t cols) {
  const int32_t row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int32_t lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float* in = x + static_cast<int64_t>(row) * cols;
  float* out = y + static_cast<int64_t>(row) * cols;
  float m = -INFINITY;
  float s = 0.0f;
  for (int32_t c = lane; c < cols; c += 32) {
    const float v = in[c];
    const float m_new = fmaxf(m, v);
    s = s * expf(m - m_new) + expf(v - m_new);
    m = m_new;
  }
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float m_other = __shfl_xor_sync(0xffffffffu, m, offset);
    const float s_other = __shfl_xor_sync(0xffffffffu, s, offset);
    const float m_new = fmaxf(m, m_other);
    s = s * expf(m - m_new) + s_other * expf(m_other - m_new);
    m = m_new;
  }
  const float inv = 1.0f / s;
  for (int32_t c = lane; c < cols; c += 32) out[c] = expf(in[c] - m) * inv;
}

void row_softmax(const float* x, float* y, int32_t rows, int32_t cols) {
  const int32_t warps_per_block = 4;
  softmax_kernel<<<(rows + warps_per_block - 1) / warps_per_block, warps_per_block * 32>>>(x, y, rows, cols);
}
