# expect: memory_opt=0 compute_opt=0 parallelism_opt=0
# Traps: the Python comments, the docstring and the prose string claim optimizations.
# This kernel uses wmma::mma_sync tensor cores, __shared__ tiling and __shfl_down_sync.
"""ReLU as a CUDA extension: __shared__ float tile[256]; __syncthreads(); float4 loads."""
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

NOTE = "fast path: __syncthreads() after each tile, __shfl_xor_sync(mask, v, 16), cp.async"

cuda_source = """
#include <torch/extension.h>

// one thread per element; a comment mentioning __syncthreads() and float4 does not count
__global__ void relu_kernel(const float* x, float* y, int64_t n) {
  const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

torch::Tensor relu(torch::Tensor x) {
  auto y = torch::empty_like(x);
  const int64_t n = x.numel();
  relu_kernel<<<(n + 255) / 256, 256>>>(x.data_ptr<float>(), y.data_ptr<float>(), n);
  return y;
}
"""

cpp_source = "torch::Tensor relu(torch::Tensor x);"

ext = load_inline(name="corpus_relu", cpp_sources=cpp_source, cuda_sources=cuda_source,
                  functions=["relu"], verbose=False)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        # wmma would not help an elementwise op
        return ext.relu(x.contiguous())
