# expect: memory_opt=0 compute_opt=0 parallelism_opt=0
# Traps inside the CUDA string: a device function nobody calls, an `#if 0` block with cp.async,
# a declared-but-unused __shared__ array, a float4 that is never loaded or stored.
# (A Python comment saying wmma::mma_sync or __syncthreads() is not code either.)
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

cuda_source = """
#include <torch/extension.h>

__device__ float block_sum(float v) {
  __shared__ float partial[32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffff, v, o);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
  __syncthreads();
  return partial[0];
}

__global__ void add_kernel(const float* a, const float* b, float* c, int n) {
  __shared__ float unused_tile[256];
  float4 unused_vector;
  int i = blockIdx.x * blockDim.x + threadIdx.x;
#if 0
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" :: "r"(0), "l"(a));
  c[i] = __expf(a[i]);
#endif
  if (i < n) c[i] = a[i] + b[i];
}

torch::Tensor add(torch::Tensor a, torch::Tensor b) {
  auto c = torch::empty_like(a);
  int n = a.numel();
  add_kernel<<<(n + 255) / 256, 256>>>(a.data_ptr<float>(), b.data_ptr<float>(), c.data_ptr<float>(), n);
  return c;
}
"""

ext = load_inline(name="corpus_add", cpp_sources="torch::Tensor add(torch::Tensor a, torch::Tensor b);",
                  cuda_sources=cuda_source, functions=["add"])


class ModelNew(nn.Module):
    def forward(self, a, b):
        # __syncthreads(); wmma::mma_sync(acc, a, b, acc);
        return ext.add(a.contiguous(), b.contiguous())
