# expect: memory_opt=2 compute_opt=3 parallelism_opt=1
import math

import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

cuda_source = """
#include <torch/extension.h>

#define BLOCK_Q 64
#define BLOCK_KV 64
#define HEAD_DIM 32

// Flash-attention style: the block walks the keys tile by tile; each thread keeps its query's
// running max and denominator and rescales its output row (kept in shared memory) per tile.
__global__ void flash_kernel(const float* q, const float* k, const float* v, float* o, int seq, float scale) {
  __shared__ float k_tile[BLOCK_KV][HEAD_DIM];
  __shared__ float v_tile[BLOCK_KV][HEAD_DIM];
  __shared__ float o_rows[BLOCK_Q][HEAD_DIM + 1];
  const int qi = blockIdx.x * BLOCK_Q + threadIdx.x;
  for (int d = 0; d < HEAD_DIM; ++d) o_rows[threadIdx.x][d] = 0.f;
  float row_max = -INFINITY, row_sum = 0.f;
  for (int kv = 0; kv < seq; kv += BLOCK_KV) {
    for (int d = 0; d < HEAD_DIM; ++d) {
      k_tile[threadIdx.x][d] = kv + threadIdx.x < seq ? k[(kv + threadIdx.x) * HEAD_DIM + d] : 0.f;
      v_tile[threadIdx.x][d] = kv + threadIdx.x < seq ? v[(kv + threadIdx.x) * HEAD_DIM + d] : 0.f;
    }
    __syncthreads();
    for (int j = 0; j < BLOCK_KV && kv + j < seq; ++j) {
      float s = 0.f;
      for (int d = 0; d < HEAD_DIM; ++d) s += q[qi * HEAD_DIM + d] * k_tile[j][d];
      s *= scale;
      float new_max = fmaxf(row_max, s);
      float alpha = expf(row_max - new_max);
      float p = expf(s - new_max);
      row_sum = row_sum * alpha + p;
      for (int d = 0; d < HEAD_DIM; ++d) o_rows[threadIdx.x][d] = o_rows[threadIdx.x][d] * alpha + p * v_tile[j][d];
      row_max = new_max;
    }
    __syncthreads();
  }
  if (qi < seq)
    for (int d = 0; d < HEAD_DIM; ++d) o[qi * HEAD_DIM + d] = o_rows[threadIdx.x][d] / row_sum;
}

torch::Tensor attention(torch::Tensor q, torch::Tensor k, torch::Tensor v) {
  auto o = torch::empty_like(q);
  int seq = q.size(0);
  flash_kernel<<<(seq + BLOCK_Q - 1) / BLOCK_Q, BLOCK_Q>>>(q.data_ptr<float>(), k.data_ptr<float>(),
      v.data_ptr<float>(), o.data_ptr<float>(), seq, 1.0f / sqrtf((float)HEAD_DIM));
  return o;
}
"""

ext = load_inline(name="corpus_flash", cpp_sources="torch::Tensor attention(torch::Tensor q, torch::Tensor k, torch::Tensor v);",
                  cuda_sources=cuda_source, functions=["attention"])


class ModelNew(nn.Module):
    def forward(self, q, k, v):
        assert q.size(-1) == 32, f"head dim {q.size(-1)}; this kernel is built for {32}"
        return ext.attention(q.contiguous(), k.contiguous(), v.contiguous())
