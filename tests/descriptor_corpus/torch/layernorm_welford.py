# expect: memory_opt=2 compute_opt=2 parallelism_opt=3
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

source = """
#include <torch/extension.h>

struct Stats { float mean, m2, count; };

__device__ Stats combine(Stats a, Stats b) {
  float count = a.count + b.count;
  if (count == 0.f) return a;
  float delta = b.mean - a.mean;
  return {a.mean + delta * b.count / count, a.m2 + b.m2 + delta * delta * a.count * b.count / count, count};
}

__device__ Stats warp_combine(Stats s) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    Stats other{__shfl_down_sync(0xffffffff, s.mean, offset), __shfl_down_sync(0xffffffff, s.m2, offset),
                __shfl_down_sync(0xffffffff, s.count, offset)};
    s = combine(s, other);
  }
  return s;
}

// One block per row: Welford's single-pass mean / variance per thread, merged per warp by
// shuffles and across warps through shared memory.
__global__ void layernorm_kernel(const float* x, const float* gamma, const float* beta, float* y, int cols) {
  __shared__ Stats warp_stats[32];
  const float* in = x + (size_t)blockIdx.x * cols;
  float mean = 0.f, m2 = 0.f, count = 0.f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    float v = in[c];
    count += 1.f;
    float delta = v - mean;
    mean += delta / count;
    m2 += delta * (v - mean);
  }
  Stats s = warp_combine(Stats{mean, m2, count});
  int warp = threadIdx.x / warpSize, lane = threadIdx.x % warpSize;
  if (lane == 0) warp_stats[warp] = s;
  __syncthreads();
  if (warp == 0) {
    s = lane < blockDim.x / warpSize ? warp_stats[lane] : Stats{0.f, 0.f, 0.f};
    s = warp_combine(s);
    if (lane == 0) warp_stats[0] = s;
  }
  __syncthreads();
  s = warp_stats[0];
  float inv_std = rsqrtf(s.m2 / s.count + 1e-5f);
  for (int c = threadIdx.x; c < cols; c += blockDim.x)
    y[(size_t)blockIdx.x * cols + c] = (in[c] - s.mean) * inv_std * gamma[c] + beta[c];
}

torch::Tensor layernorm(torch::Tensor x, torch::Tensor gamma, torch::Tensor beta) {
  auto y = torch::empty_like(x);
  layernorm_kernel<<<x.size(0), 256>>>(x.data_ptr<float>(), gamma.data_ptr<float>(), beta.data_ptr<float>(),
                                       y.data_ptr<float>(), x.size(1));
  return y;
}
"""

ext = load_inline(name="corpus_layernorm", cpp_sources=["torch::Tensor layernorm(torch::Tensor x, torch::Tensor gamma, torch::Tensor beta);"],
                  cuda_sources=[source], functions=["layernorm"])


class ModelNew(nn.Module):
    def __init__(self, normalized_shape):
        super().__init__()
        self.ln = nn.LayerNorm(normalized_shape)

    def forward(self, x):
        return ext.layernorm(x.contiguous(), self.ln.weight, self.ln.bias)
