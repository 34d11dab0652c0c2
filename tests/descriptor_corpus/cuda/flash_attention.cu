// expect: memory_opt=3 compute_opt=3 parallelism_opt=1
// Flash-style attention forward for head_dim 64: one thread per query row, K and V tiles staged
// in shared memory, an online softmax (running max m, running sum l) rescales the output
// accumulator after every tile, so the score matrix is never written out.
#include <cstdint>
#include <cmath>

constexpr int kD = 64;
constexpr int kTileKV = 32;

__global__ void attention_kernel(const float* q, const float* k, const float* v, float* o, int32_t seq, float scale) {
  __shared__ float ks[kTileKV][kD];
  __shared__ float vs[kTileKV][kD];
  const int32_t row = blockIdx.x * blockDim.x + threadIdx.x;
  float q_reg[kD];
  float acc[kD];
  for (int d = 0; d < kD; ++d) {
    q_reg[d] = row < seq ? q[row * kD + d] * scale : 0.0f;
    acc[d] = 0.0f;
  }
  float m = -INFINITY;
  float l = 0.0f;
  for (int32_t start = 0; start < seq; start += kTileKV) {
    for (int e = threadIdx.x; e < kTileKV * kD; e += blockDim.x) {
      const int32_t r = start + e / kD;
      ks[e / kD][e % kD] = r < seq ? k[r * kD + e % kD] : 0.0f;
      vs[e / kD][e % kD] = r < seq ? v[r * kD + e % kD] : 0.0f;
    }
    __syncthreads();
    for (int j = 0; j < kTileKV && start + j < seq; ++j) {
      float score = 0.0f;
      for (int d = 0; d < kD; ++d) score += q_reg[d] * ks[j][d];
      const float m_new = fmaxf(m, score);
      const float correction = __expf(m - m_new);
      const float p = __expf(score - m_new);
      l = l * correction + p;
      for (int d = 0; d < kD; ++d) acc[d] = acc[d] * correction + p * vs[j][d];
      m = m_new;
    }
    __syncthreads();
  }
  if (row < seq) {
    for (int d = 0; d < kD; ++d) o[row * kD + d] = acc[d] / l;
  }
}

void attention(const float* q, const float* k, const float* v, float* o, int32_t seq) {
  attention_kernel<<<(seq + 63) / 64, 64>>>(q, k, v, o, seq, 1.0f / sqrtf(static_cast<float>(kD)));
}
