# expect: memory_opt=1 compute_opt=1 parallelism_opt=0
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

cuda_source = r'''
#include <torch/extension.h>

__global__ void gelu_kernel(const float4* __restrict__ x, float4* __restrict__ y, int64_t n4) {
  const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i >= n4) return;
  float4 v = x[i];
  float* e = reinterpret_cast<float*>(&v);
  #pragma unroll
  for (int k = 0; k < 4; ++k) e[k] = 0.5f * e[k] * (1.0f + tanhf(0.7978845608f * (e[k] + 0.044715f * e[k] * e[k] * e[k])));
  y[i] = v;
}

torch::Tensor gelu(torch::Tensor x) {
  TORCH_CHECK(x.numel() % 4 == 0, "numel must be a multiple of 4");
  auto y = torch::empty_like(x);
  const int64_t n4 = x.numel() / 4;
  gelu_kernel<<<(n4 + 255) / 256, 256>>>(reinterpret_cast<const float4*>(x.data_ptr<float>()),
                                          reinterpret_cast<float4*>(y.data_ptr<float>()), n4);
  return y;
}
'''

ext = load_inline(
    name="corpus_gelu",
    cpp_sources="torch::Tensor gelu(torch::Tensor x);",
    cuda_sources=cuda_source,
    functions=["gelu"],
    extra_cuda_cflags=["-O3", "--use_fast_math"],
)


class ModelNew(nn.Module):
    def forward(self, x):
        return ext.gelu(x.contiguous())
